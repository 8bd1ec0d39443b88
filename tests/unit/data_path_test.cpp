// The message data path: DataReader (DATA after 354), BdatReader (RFC 3030 chunks) and
// DataWriter, against SMTP smuggling first of all. Every fake end-of-data sequence from the
// SEC Consult research is placed right after DATA, in the headers and in the body, followed
// by a smuggled transaction and then the real <CRLF>.<CRLF>; each input is fed whole, split
// at every byte and byte by byte, in both bare-newline modes. Then unstuffing, limits,
// pipelining after the final dot, 8-bit detection, BDAT across chunk boundaries, the writer
// and header folding.
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/server/command_parser.hpp"
#include "proxy/server/data_reader.hpp"
#include "proxy/server/data_writer.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using tlsrelay::Reply;

namespace {

std::string visible(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == 0) {
      out += "\\0";
    } else if (c < 32 || c >= 127) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s = "[";
  for (const auto& l : lines) {
    s += '"';
    s += visible(l);
    s += "\" ";
  }
  return s + "]";
}

// Where RFC 5321 says DATA ends: just after the first CRLF "." CRLF, counting the CRLF that
// ended the DATA command line. npos if it does not.
std::size_t reference_end(const std::string& data) {
  const auto p = ("\r\n" + data).find("\r\n.\r\n");
  return p == std::string::npos ? p : p + 3;
}

// True if CR and LF occur only as CRLF pairs.
bool only_crlf(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

DataLimits mode_limits(BareNewlines mode) {
  DataLimits l;
  l.bare_newlines = mode;
  return l;
}

struct Outcome {
  std::vector<std::string> lines;
  std::size_t consumed = 0;  // octets the reader took before it said Done
  int done_events = 0;       // feed() calls that said Done having consumed something
  std::optional<Reply> error;
  bool done = false;
};

// Feeds `input` to a DataReader in chunks cut at `cuts`. Like a careless caller, it keeps
// feeding after Done, so a reader that reported the end twice would be caught.
Outcome run_data(const std::string& input, std::vector<std::size_t> cuts, DataLimits limits) {
  DataReader reader(limits);
  Outcome o;
  cuts.push_back(input.size());
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const std::string_view chunk = std::string_view(input).substr(from, cut - from);
    from = cut;
    const auto res = reader.feed(chunk, o.lines);
    REQUIRE(res.consumed <= chunk.size());
    if (o.done) {
      CHECK(res.status == DataReader::Status::Done);
      CHECK(res.consumed == 0);
      continue;
    }
    o.consumed += res.consumed;
    if (res.status == DataReader::Status::Done) {
      o.done = true;
      ++o.done_events;
    } else {
      CHECK(res.consumed == chunk.size());
    }
  }
  o.error = reader.error();
  CHECK(o.done == reader.done());
  return o;
}

Outcome run_bytewise(const std::string& input, DataLimits limits) {
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  return run_data(input, every, limits);
}

void check_same(const Outcome& got, const Outcome& whole) {
  CHECK(got.done_events == 1);
  CHECK(got.consumed == whole.consumed);
  CHECK(got.lines == whole.lines);
  CHECK(got.error.has_value() == whole.error.has_value());
  if (got.error && whole.error) CHECK(got.error->first_line() == whole.error->first_line());
}

std::string write_back(const std::vector<std::string>& lines) {
  std::string out;
  DataWriter w(out);
  for (const auto& l : lines) w.line(l);
  w.finish();
  return out;
}

struct Variant {
  std::string name;
  std::string bytes;
  std::vector<std::string> lines;  // what Normalize makes of it (after the line it ends)
};

struct Placement {
  std::string name;
  std::string prefix;
  std::vector<std::string> lines;  // including the line the variant's first ending ends
  bool shares_data_crlf = false;   // the variant's leading CRLF is the DATA command's
};

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"\\n.\\n", "\n.\n", {"."}},
      {"\\r.\\r", "\r.\r", {"."}},
      {"\\r.\\n", "\r.\n", {"."}},
      {"\\n.\\r", "\n.\r", {"."}},
      {"\\n.\\r\\n", "\n.\r\n", {"."}},
      {"\\r\\n.\\n", "\r\n.\n", {"."}},
      {"\\r.\\r\\n", "\r.\r\n", {"."}},
      {"\\r\\n.\\r", "\r\n.\r", {"."}},
      {"\\r\\n\\0.\\r\\n", std::string("\r\n\0.\r\n", 6), {"."}},
      {"\\r\\n.\\0\\r\\n", std::string("\r\n.\0\r\n", 6), {""}},  // the dot was stuffing
      {"\\r\\n.\\r\\r\\n", "\r\n.\r\r\n", {".", ""}},
      // Dots after a bare ending are content; after a real CRLF they are unstuffed.
      {"\\n..\\n", "\n..\n", {".."}},
      {"\\r\\n..\\n", "\r\n..\n", {"."}},
  };
  return v;
}

const std::string kSmuggled =
    "MAIL FROM:<x@evil.example>\r\nRCPT TO:<y@victim.example>\r\nDATA\r\n"
    "From: ceo@victim.example\r\n\r\nsmuggled\r\n";
const std::vector<std::string> kSmuggledLines = {"MAIL FROM:<x@evil.example>",
                                                 "RCPT TO:<y@victim.example>",
                                                 "DATA",
                                                 "From: ceo@victim.example",
                                                 "",
                                                 "smuggled"};
const std::string kNextCommands = "QUIT\r\n";

}  // namespace

// ---- smuggling ---------------------------------------------------------------------------

TEST_CASE("no fake end-of-data sequence ends DATA, wherever it is and however it is split",
          "[data][smuggling]") {
  const auto placement = GENERATE(values<Placement>({
      {"right after DATA", "", {""}},
      {"right after DATA, sharing its CRLF", "", {}, true},
      {"in the headers", "From: a@b.example\r\nSubject: hi", {"From: a@b.example", "Subject: hi"}},
      {"in the body",
       "From: a@b.example\r\nSubject: hi\r\n\r\nbody",
       {"From: a@b.example", "Subject: hi", "", "body"}},
  }));
  const auto variant = GENERATE(from_range(variants()));
  std::string fake = variant.bytes;
  if (placement.shares_data_crlf) {
    if (fake.rfind("\r\n", 0) != 0) return;  // only for variants that begin with CRLF
    fake.erase(0, 2);
  }
  const std::string data = placement.prefix + fake + kSmuggled + ".\r\n";
  const std::string input = data + kNextCommands;
  INFO("variant " << variant.name << " placed " << placement.name);
  INFO("input: " << visible(input));
  // The test's own premise: the only CRLF.CRLF is the real one at the end.
  REQUIRE(reference_end(input) == data.size());

  SECTION("Reject: the message is refused, and DATA ends only at the real terminator") {
    const DataLimits limits = mode_limits(BareNewlines::Reject);
    const Outcome whole = run_data(input, {}, limits);
    CHECK(whole.done_events == 1);
    CHECK(whole.consumed == data.size());
    REQUIRE(whole.error.has_value());
    CHECK(whole.error->code == 554);
    CHECK(whole.error->enhanced == "5.5.2");
    for (const auto& l : whole.lines) CHECK(l.find("MAIL FROM") == std::string::npos);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      INFO("split at " << cut);
      check_same(run_data(input, {cut}, limits), whole);
    }
    check_same(run_bytewise(input, limits), whole);
  }

  SECTION("Normalize: the smuggled commands are message content, written back unambiguously") {
    const DataLimits limits = mode_limits(BareNewlines::Normalize);
    const Outcome whole = run_data(input, {}, limits);
    CHECK(whole.done_events == 1);
    CHECK(whole.consumed == data.size());
    if (variant.bytes.find('\0') != std::string::npos) {
      // NUL is never normalised away (it could make an empty line or a MIME boundary): the
      // message is refused as in Reject, still at the real terminator only.
      REQUIRE(whole.error.has_value());
      CHECK(whole.error->code == 554);
      for (const auto& l : whole.lines) CHECK(l.find("MAIL FROM") == std::string::npos);
      for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        INFO("split at " << cut);
        check_same(run_data(input, {cut}, limits), whole);
      }
      return;
    }
    CHECK_FALSE(whole.error.has_value());
    std::vector<std::string> expected = placement.lines;
    expected.insert(expected.end(), variant.lines.begin(), variant.lines.end());
    expected.insert(expected.end(), kSmuggledLines.begin(), kSmuggledLines.end());
    INFO("got      " << joined(whole.lines));
    INFO("expected " << joined(expected));
    CHECK(whole.lines == expected);

    const std::string out = write_back(whole.lines);
    INFO("written: " << visible(out));
    CHECK(only_crlf(out));
    CHECK(out.find('\0') == std::string::npos);
    // The upstream sees exactly one end of data, at the end; a "." line went out as "..".
    CHECK(reference_end(out) == out.size());
    CHECK(out.find("\r\n.\r\n") == out.size() - 5);
    // And reading our own output strictly gives the same lines, nothing refused.
    const Outcome again = run_data(out, {}, mode_limits(BareNewlines::Reject));
    CHECK_FALSE(again.error.has_value());
    CHECK(again.consumed == out.size());
    CHECK(again.lines == whole.lines);

    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      INFO("split at " << cut);
      check_same(run_data(input, {cut}, limits), whole);
    }
    check_same(run_bytewise(input, limits), whole);
  }
}

TEST_CASE("DATA ends exactly where CRLF.CRLF first occurs, for any bytes (fixed seed)",
          "[data][smuggling][property]") {
  std::mt19937 rng(20231218);  // the SEC Consult disclosure date
  const std::string alphabet = std::string("\r\n.\0a\x80", 6);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 24);
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::string input;
    const std::size_t n = length(rng);
    for (std::size_t i = 0; i < n; ++i) input += alphabet[pick(rng)];
    // Make it end most of the time, so both outcomes are exercised.
    if (iteration % 4 != 0) input += "\r\n.\r\n";
    INFO("input: " << visible(input));
    const std::size_t end = reference_end(input);
    for (auto mode : {BareNewlines::Reject, BareNewlines::Normalize}) {
      INFO("mode: " << to_string(mode));
      const Outcome whole = run_data(input, {}, mode_limits(mode));
      if (end == std::string::npos) {
        CHECK_FALSE(whole.done);
        CHECK(whole.consumed == input.size());
      } else {
        CHECK(whole.done);
        CHECK(whole.consumed == end);
      }
      const std::size_t cut = std::uniform_int_distribution<std::size_t>(0, input.size())(rng);
      INFO("split at " << cut);
      const Outcome split = run_data(input, {cut}, mode_limits(mode));
      CHECK(split.done == whole.done);
      CHECK(split.consumed == whole.consumed);
      CHECK(split.lines == whole.lines);
      if (mode == BareNewlines::Normalize && whole.done) {
        // Whatever came in, what we write is strict SMTP and reads back the same.
        const std::string out = write_back(whole.lines);
        CHECK(only_crlf(out));
        const Outcome again = run_data(out, {}, mode_limits(BareNewlines::Reject));
        CHECK_FALSE(again.error.has_value());
        CHECK(again.consumed == out.size());
        CHECK(again.lines == whole.lines);
      }
    }
  }
}

// Issue 17 item 4: a line of only NUL, dropped, would be the empty line that ends the header
// section, and "X-Hidden" would be body upstream while it was a header to the client.
TEST_CASE("NUL is refused in both modes, never normalised into structure", "[data][smuggling]") {
  const std::string input = std::string(
      "Subject: z\r\n\0\r\nX-Hidden: 1\r\n\r\nbody\r\n"
      "--b\0\r\n.\r\n",
      45);
  REQUIRE(input.size() == 45);
  for (auto mode : {BareNewlines::Reject, BareNewlines::Normalize}) {
    INFO("mode " << to_string(mode));
    const Outcome o = run_data(input, {}, mode_limits(mode));
    CHECK(o.done);
    CHECK(o.consumed == input.size());
    REQUIRE(o.error.has_value());
    CHECK(o.error->code == 554);
    CHECK(o.error->enhanced == "5.5.2");
    for (const auto& l : o.lines) CHECK_FALSE(l.empty());  // no header section ended by us
  }
}

// ---- unstuffing, empty messages --------------------------------------------------------

TEST_CASE("dot-stuffing is removed per RFC 5321 4.5.2", "[data]") {
  auto [input, expected] = GENERATE(table<std::string, std::vector<std::string>>({
      {".\r\n", {}},  // the empty message
      {"\r\n.\r\n", {""}},
      {"..\r\n.\r\n", {"."}},
      {"...\r\n.\r\n", {".."}},
      {".x\r\n.\r\n", {"x"}},
      {"a.\r\n.\r\n", {"a."}},
      {" .\r\n.\r\n", {" ."}},
      {"..\r\n..\r\n.\r\n", {".", "."}},
      {"a\r\n\r\n.\r\n", {"a", ""}},
      {"..\r\n.\r\n", {"."}},
  }));
  INFO("input: " << visible(input));
  for (auto mode : {BareNewlines::Reject, BareNewlines::Normalize}) {
    const Outcome o = run_data(input, {}, mode_limits(mode));
    CHECK(o.done);
    CHECK(o.consumed == input.size());
    CHECK_FALSE(o.error.has_value());
    INFO("got " << joined(o.lines));
    CHECK(o.lines == expected);
  }
}

TEST_CASE("the end of data is found even with no lines at all", "[data]") {
  DataReader reader;
  std::vector<std::string> lines;
  auto res = reader.feed(".\r\nQUIT\r\n", lines);
  CHECK(res.status == DataReader::Status::Done);
  CHECK(res.consumed == 3);
  CHECK(lines.empty());
  CHECK(reader.size() == 0);
  CHECK(reader.lines() == 0);
  // Not: data whose first line merely starts with "."
  DataReader other;
  CHECK(other.feed(".QUIT\r\n", lines).status == DataReader::Status::NeedMore);
}

// ---- limits ----------------------------------------------------------------------------

TEST_CASE("a line of exactly the limit passes and one octet more is refused", "[data][limits]") {
  auto [content, ok] = GENERATE(table<std::string, bool>({
      {std::string(998, 'a'), true},        // 1000 with CRLF
      {"." + std::string(998, 'a'), true},  // a stuffing dot does not count
      {std::string(999, 'a'), false},
      {"." + std::string(999, 'a'), false},
      {std::string(100000, 'a'), false},
  }));
  for (auto mode : {BareNewlines::Reject, BareNewlines::Normalize}) {
    INFO("length " << content.size() << ", mode " << to_string(mode));
    const std::string data = "x\r\n" + content + "\r\n\n.\nafter\r\n.\r\n";
    const std::string input = "x\r\n" + content + "\r\nafter\r\n.\r\n" + kNextCommands;
    const Outcome o = run_data(input, {}, mode_limits(mode));
    CHECK(o.done_events == 1);
    CHECK(o.consumed == input.size() - kNextCommands.size());
    if (ok) {
      CHECK_FALSE(o.error.has_value());
      REQUIRE(o.lines.size() == 3);
      CHECK(o.lines[1].size() == 998);
    } else {
      REQUIRE(o.error.has_value());
      CHECK(o.error->code == 500);
      CHECK(o.error->enhanced == "5.5.0");
      // Nothing past the long line is emitted, and it is not emitted in part.
      CHECK(o.lines == std::vector<std::string>{"x"});
    }
    // Past a too-long line the reader still ends only at the real terminator.
    const Outcome o2 = run_data(data + kNextCommands, {}, mode_limits(mode));
    CHECK(o2.consumed == data.size());
  }
}

TEST_CASE("the line limit is configurable", "[data][limits]") {
  DataLimits l;
  l.max_line = 12;  // ten octets of content
  CHECK_FALSE(run_data("0123456789\r\n.\r\n", {}, l).error.has_value());
  const Outcome o = run_data("0123456789a\r\n.\r\n", {}, l);
  REQUIRE(o.error.has_value());
  CHECK(o.error->code == 500);
}

TEST_CASE("the message size limit counts content and CRLFs, not stuffing", "[data][limits]") {
  auto [max, mode, input, code] = GENERATE(table<std::uint64_t, BareNewlines, std::string, int>({
      {20, BareNewlines::Reject, "0123456789abcdefgh\r\n.\r\n", 0},  // exactly 20
      {20, BareNewlines::Reject, "0123456789abcdefghi\r\n.\r\n", 552},
      {20, BareNewlines::Reject, "12345678\r\n12345678\r\n.\r\n", 0},
      {20, BareNewlines::Reject, "12345678\r\n123456789\r\n.\r\n", 552},
      {10, BareNewlines::Reject, "..2345678\r\n.\r\n", 0},  // stuffing dot not counted
      // A bare LF becomes CRLF, two octets: 6 + 2 + 1 + 2 = 11.
      {11, BareNewlines::Normalize, "123456\nX\r\n.\r\n", 0},
      {10, BareNewlines::Normalize, "123456\nX\r\n.\r\n", 552},
      {10, BareNewlines::Reject, "123456\nX\r\n.\r\n", 554},  // refused for the bare LF
      {0, BareNewlines::Reject, ".\r\n", 0},
      {0, BareNewlines::Reject, "\r\n.\r\n", 552},
  }));
  INFO("max " << max << " input " << visible(input));
  DataLimits l = mode_limits(mode);
  l.max_size = max;
  const std::string stream = input + "\r\n.\r\n";  // a second terminator must not matter
  const Outcome o = run_data(stream, {}, l);
  CHECK(o.done_events == 1);
  if (code == 0) {
    CHECK_FALSE(o.error.has_value());
  } else {
    REQUIRE(o.error.has_value());
    CHECK(o.error->code == code);
    if (code == 552) CHECK(o.error->enhanced == "5.3.4");
  }
}

TEST_CASE("a huge line is consumed without being held", "[data][limits]") {
  DataReader reader;
  std::vector<std::string> lines;
  const std::string flood(8 * 1024 * 1024, 'z');
  auto res = reader.feed(flood, lines);
  CHECK(res.status == DataReader::Status::NeedMore);
  CHECK(res.consumed == flood.size());
  REQUIRE(reader.error().has_value());
  CHECK(reader.error()->code == 500);
  CHECK(lines.empty());
  CHECK(reader.feed("\r\n.\r\n", lines).status == DataReader::Status::Done);
  CHECK(reader.wire_bytes() == flood.size() + 5);
}

// ---- pipelining after the final dot ----------------------------------------------------

TEST_CASE("the reader stops at the first terminator and says how much it consumed",
          "[data][pipelining]") {
  const std::string first = "Subject: one\r\n\r\nfirst\r\n.\r\n";
  const std::string second = "Subject: two\r\n\r\nsecond\r\n.\r\n";
  const std::string buf = first + second;
  DataReader reader;
  std::vector<std::string> lines;
  auto res = reader.feed(buf, lines);
  CHECK(res.status == DataReader::Status::Done);
  CHECK(res.consumed == first.size());
  CHECK(lines == std::vector<std::string>{"Subject: one", "", "first"});
  reader.reset();
  lines.clear();
  res = reader.feed(std::string_view(buf).substr(first.size()), lines);
  CHECK(res.consumed == second.size());
  CHECK(lines == std::vector<std::string>{"Subject: two", "", "second"});
}

TEST_CASE("two transactions in one stream, split at every byte, alternate commands and data",
          "[data][pipelining]") {
  const std::string stream =
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "Subject: one\r\n\r\nfirst\r\n.\r\n"
      "MAIL FROM:<e@f.example>\r\nRCPT TO:<g@h.example>\r\nDATA\r\n"
      "Subject: two\r\n\r\n..second\r\nMAIL FROM:<not@a.command>\r\n.\r\nQUIT\r\n";
  const std::vector<std::string> expected = {"cmd MAIL FROM:<a@b.example>",
                                             "cmd RCPT TO:<c@d.example>",
                                             "cmd DATA",
                                             "msg Subject: one||first",
                                             "cmd MAIL FROM:<e@f.example>",
                                             "cmd RCPT TO:<g@h.example>",
                                             "cmd DATA",
                                             "msg Subject: two||.second|MAIL FROM:<not@a.command>",
                                             "cmd QUIT"};
  // A miniature session: commands until DATA, then a DataReader until Done, and back.
  auto run = [&](std::vector<std::size_t> cuts) {
    std::vector<std::string> events;
    CommandReader commands;
    std::optional<DataReader> data;
    std::vector<std::string> lines;
    cuts.push_back(stream.size());
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
      std::string_view chunk = std::string_view(stream).substr(from, cut - from);
      from = cut;
      while (!chunk.empty()) {
        if (data) {
          const auto res = data->feed(chunk, lines);
          chunk.remove_prefix(res.consumed);
          if (res.status == DataReader::Status::Done) {
            std::string msg = "msg ";
            for (std::size_t i = 0; i < lines.size(); ++i) msg += (i ? "|" : "") + lines[i];
            events.push_back(msg);
            lines.clear();
            data.reset();
          }
        } else {
          const auto res = commands.feed(chunk);
          chunk.remove_prefix(res.consumed);
          if (res.status == CommandReader::Status::Line) {
            const auto line = commands.take();
            const auto* text = std::get_if<std::string>(&line);
            events.push_back("cmd " + (text ? *text : std::string("refused")));
            if (text && *text == "DATA") data.emplace();
          }
        }
      }
    }
    return events;
  };
  CHECK(run({}) == expected);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("split at " << cut);
    REQUIRE(run({cut}) == expected);
  }
}

// ---- counters --------------------------------------------------------------------------

TEST_CASE("8-bit octets in the message are noticed, and only those", "[data]") {
  auto [input, eight_bit] = GENERATE(table<std::string, bool>({
      {"plain ascii\r\n.\r\n", false},
      {"caf\xc3\xa9\r\n.\r\n", true},
      {"\x80\r\n.\r\n", true},
      {".\xff\r\n.\r\n", true},
      {"x\r\n.\r\n\xff\xfe", false},  // after the terminator: the next commands' business
  }));
  INFO("input: " << visible(input));
  DataReader reader;
  std::vector<std::string> lines;
  reader.feed(input, lines);
  CHECK(reader.done());
  CHECK(reader.eight_bit() == eight_bit);
}

TEST_CASE("counters: size, lines and octets on the wire", "[data]") {
  DataReader reader;
  std::vector<std::string> lines;
  reader.feed("a\r\n..bb\r\n.\r\n", lines);
  CHECK(reader.lines() == 2);
  CHECK(reader.size() == 3 + 5);  // "a" CRLF ".bb" CRLF
  CHECK(reader.wire_bytes() == 12);
}

// ---- BDAT ------------------------------------------------------------------------------

namespace {

struct BdatOutcome {
  std::vector<std::string> lines;
  std::optional<Reply> error;
};

// Sends each chunk as "BDAT n" (the last as LAST), its octets cut at `cut` and followed by
// the next command's bytes, which must be left alone.
BdatOutcome run_bdat(const std::vector<std::string>& chunks, DataLimits limits, std::size_t cut) {
  BdatReader reader(limits);
  BdatOutcome o;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const bool last = i + 1 == chunks.size();
    const std::string wire = chunks[i] + "NOOP\r\n";
    reader.begin_chunk(chunks[i].size(), last);
    const std::size_t c = std::min(cut, chunks[i].size());
    auto res = reader.feed(std::string_view(wire).substr(0, c), o.lines);
    std::size_t used = res.consumed;
    if (res.status == BdatReader::Status::NeedMore) {
      res = reader.feed(std::string_view(wire).substr(used), o.lines);
      used += res.consumed;
    }
    CHECK(used == chunks[i].size());
    CHECK(res.status == (last ? BdatReader::Status::Done : BdatReader::Status::ChunkDone));
    CHECK_FALSE(reader.in_chunk());
  }
  CHECK(reader.done());
  o.error = reader.error();
  return o;
}

}  // namespace

TEST_CASE("BDAT chunks: the bare CR/LF policy holds across chunk boundaries", "[data][bdat]") {
  using Lines = std::vector<std::string>;
  auto [chunks, reject_code, normalized] = GENERATE(table<Lines, int, Lines>({
      {{"a\r", "\nb\r\n"}, 0, {"a", "b"}},  // CR | LF across chunks is a CRLF
      {{"a", "\r", "\n"}, 0, {"a"}},
      {{"a\r\n", ""}, 0, {"a"}},  // BDAT 0 LAST
      {{""}, 0, {}},
      {{".\r\n", "..x\r\n"}, 0, {".", "..x"}},  // no dot processing in BDAT
      {{"no final crlf"}, 0, {"no final crlf"}},
      {{"a\r\n.\r\n", "after\r\n"}, 0, {"a", ".", "after"}},
      // Negative rows: Reject refuses with 554 5.5.2, Normalize repairs.
      {{"a\r", "b\r\n"}, 554, {"a", "b"}},
      {{"a\n"}, 554, {"a"}},
      {{"a\r"}, 554, {"a"}},  // a CR that ends the message has no LF coming
      {{"a\r\n", "\n.\n"}, 554, {"a", "", "."}},
      // NUL is refused in both modes (data_reader.hpp): no "repaired" lines for it.
      {{std::string("x\0y\r\n", 5)}, 554, {}},
  }));
  INFO("chunks: " << joined(chunks));
  std::size_t longest = 0;
  for (const auto& c : chunks) longest = std::max(longest, c.size());
  for (std::size_t cut = 0; cut <= longest; ++cut) {
    INFO("each chunk split at " << cut);
    const auto rejected = run_bdat(chunks, mode_limits(BareNewlines::Reject), cut);
    if (reject_code == 0) {
      CHECK_FALSE(rejected.error.has_value());
      CHECK(rejected.lines == normalized);
    } else {
      REQUIRE(rejected.error.has_value());
      CHECK(rejected.error->code == reject_code);
      CHECK(rejected.error->enhanced == "5.5.2");
    }
    const auto repaired = run_bdat(chunks, mode_limits(BareNewlines::Normalize), cut);
    if (std::any_of(chunks.begin(), chunks.end(),
                    [](const std::string& c) { return c.find('\0') != std::string::npos; })) {
      REQUIRE(repaired.error.has_value());
      CHECK(repaired.error->code == 554);
      continue;
    }
    CHECK_FALSE(repaired.error.has_value());
    INFO("got " << joined(repaired.lines));
    CHECK(repaired.lines == normalized);
  }
}

TEST_CASE("BDAT size limit is enforced from the announced size, before reading",
          "[data][bdat][limits]") {
  DataLimits l;
  l.max_size = 10;
  BdatReader reader(l);
  std::vector<std::string> lines;
  reader.begin_chunk(6, false);
  CHECK(reader.feed("12345\r", lines).status == BdatReader::Status::ChunkDone);
  CHECK_FALSE(reader.error().has_value());
  reader.begin_chunk(5, true);
  // Refused on the announcement alone.
  REQUIRE(reader.error().has_value());
  CHECK(reader.error()->code == 552);
  CHECK(reader.error()->enhanced == "5.3.4");
  // The chunk is still consumed, exactly, and nothing of it emitted.
  auto res = reader.feed("\n6789QUIT\r\n", lines);
  CHECK(res.status == BdatReader::Status::Done);
  CHECK(res.consumed == 5);
  CHECK(lines.empty());
}

TEST_CASE("BDAT reader: nothing is consumed between chunks or after the last", "[data][bdat]") {
  BdatReader reader;
  std::vector<std::string> lines;
  CHECK(reader.feed("RSET\r\n", lines).consumed == 0);
  CHECK(reader.feed("RSET\r\n", lines).status == BdatReader::Status::ChunkDone);
  reader.begin_chunk(4, true);
  CHECK(reader.chunk_remaining() == 4);
  auto res = reader.feed("ab\r", lines);
  CHECK(res.status == BdatReader::Status::NeedMore);
  CHECK(res.consumed == 3);
  CHECK(reader.chunk_remaining() == 1);
  res = reader.feed("\nQUIT", lines);
  CHECK(res.status == BdatReader::Status::Done);
  CHECK(res.consumed == 1);
  CHECK(lines == std::vector<std::string>{"ab"});
  CHECK(reader.feed("QUIT\r\n", lines).consumed == 0);
}

// ---- DataWriter ------------------------------------------------------------------------

TEST_CASE("DataWriter ends lines with CRLF, stuffs dots and ends with .CRLF", "[data][writer]") {
  using Lines = std::vector<std::string>;
  auto [lines, expected] = GENERATE(table<Lines, std::string>({
      {Lines{}, ".\r\n"},
      {{""}, "\r\n.\r\n"},
      {{"a"}, "a\r\n.\r\n"},
      {{"."}, "..\r\n.\r\n"},
      {{".x", "y."}, "..x\r\ny.\r\n.\r\n"},
      {{".."}, "...\r\n.\r\n"},
      // Whatever the caller passes, no bare CR, LF or NUL reaches the wire.
      {{"a\nb"}, "a\r\nb\r\n.\r\n"},
      {{"a\rb"}, "a\r\nb\r\n.\r\n"},
      {{"a\r\n.\r\nMAIL FROM:<x>"}, "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"},
      {{"\n.\n"}, "\r\n..\r\n\r\n.\r\n"},
      {{std::string("x\0y", 3)}, "xy\r\n.\r\n"},
  }));
  INFO("lines: " << joined(lines));
  const std::string out = write_back(lines);
  CHECK(out == expected);
  CHECK(only_crlf(out));
}

TEST_CASE("DataWriter with BDAT framing neither stuffs nor terminates", "[data][writer]") {
  std::string out;
  DataWriter w(out, DataWriter::Framing::Bdat);
  w.line(".");
  w.line("a\nb");
  w.finish();
  CHECK(out == ".\r\na\r\nb\r\n");
  CHECK(w.lines() == 3);
  CHECK(w.finished());
}

// ---- header fields ---------------------------------------------------------------------

TEST_CASE("format_header_field removes what could inject a header", "[data][header]") {
  auto [name, value, expected] = GENERATE(table<std::string, std::string, std::string>({
      {"Subject", "hello", "Subject: hello"},
      {"X-Test", "a\r\nBcc: evil@example.com", "X-Test: aBcc: evil@example.com"},
      {"X-Test", "a\nb\rc", "X-Test: abc"},
      {"X-Test",
       std::string("a\0b\x01"
                   "c\td",
                   7),
       "X-Test: abc\td"},
      {"Bad:Name\r\n", "v", "BadName: v"},
      {"X-Empty", "", "X-Empty:"},
  }));
  INFO("value: " << visible(value));
  const std::string field = format_header_field(name, value);
  CHECK(field == expected);
  CHECK(field.find_first_of("\r\n") == std::string::npos);
}

namespace {

// RFC 5322 2.2.3: folds are CRLF followed by WSP; no line is only WSP; none exceeds 998.
void check_folding(const std::string& field, std::size_t soft_limit) {
  INFO("field: " << visible(field));
  CHECK(only_crlf(field));
  std::size_t start = 0;
  bool first = true;
  while (true) {
    const auto end = field.find("\r\n", start);
    const std::string line = field.substr(start, end == std::string::npos ? end : end - start);
    INFO("line: " << line);
    CHECK(line.size() <= 998);
    CHECK(line.size() <= soft_limit);
    CHECK(line.find_first_not_of(" \t") != std::string::npos);
    if (!first) CHECK((line[0] == ' ' || line[0] == '\t'));
    first = false;
    if (end == std::string::npos) break;
    start = end + 2;
  }
}

std::string unfold(std::string s) {
  for (std::size_t p; (p = s.find("\r\n")) != std::string::npos;) s.erase(p, 2);
  return s;
}

}  // namespace

TEST_CASE("format_header_field folds long values", "[data][header]") {
  SECTION("at spaces, to 78 characters, and unfolding restores the value") {
    std::string value;
    for (int i = 0; i < 40; ++i) value += "word" + std::to_string(i) + " ";
    value += "end";
    const std::string field = format_header_field("X-Long", value);
    check_folding(field, 78);
    CHECK(field.find("\r\n") != std::string::npos);
    CHECK(unfold(field) == "X-Long: " + value);
  }
  SECTION("a Received field") {
    const std::string field = format_header_field(
        "Received",
        "from client.example (client.example [192.0.2.1]) by relay.example (tlsrelay) with "
        "ESMTPS id 0123456789ABCDEF for <c@d.example>; Thu, 1 Jan 2026 00:00:00 +0000");
    CHECK(field ==
          "Received: from client.example (client.example [192.0.2.1]) by relay.example\r\n"
          " (tlsrelay) with ESMTPS id 0123456789ABCDEF for <c@d.example>; Thu, 1 Jan 2026\r\n"
          " 00:00:00 +0000");  // the middle line is exactly 78
    check_folding(field, 78);
  }
  SECTION("after ';' where there is no space, inserting one") {
    std::string value;
    for (int i = 0; i < 20; ++i) value += "param" + std::to_string(i) + "=value;";
    const std::string field = format_header_field("X-Params", value);
    check_folding(field, 78);
    std::string expected = "X-Params: " + value;
    std::string got = unfold(field);
    std::erase(got, ' ');
    std::erase(expected, ' ');
    CHECK(got == expected);
  }
  SECTION("a token longer than 78 is kept whole up to 998") {
    const std::string token(500, 't');
    const std::string field = format_header_field("X-Token", "short " + token + " tail");
    check_folding(field, 998);
    CHECK(field == "X-Token: short\r\n " + token + "\r\n tail");
  }
  SECTION("a run longer than 998 is cut to obey the hard limit") {
    const std::string token(2500, 'q');
    const std::string field = format_header_field("X-Huge", token);
    check_folding(field, 998);
    std::string got = unfold(field);
    std::erase(got, ' ');
    CHECK(got == "X-Huge:" + token);
  }
  SECTION("values with CR/LF are both cleaned and folded") {
    std::string value;
    for (int i = 0; i < 30; ++i) value += "a\r\nb ";
    const std::string field = format_header_field("X-Mixed", value);
    check_folding(field, 78);
    CHECK(unfold(field).find_first_of("\r\n") == std::string::npos);
  }
}

TEST_CASE("header fields pass through DataWriter as folded lines", "[data][header][writer]") {
  std::string value;
  for (int i = 0; i < 30; ++i) value += ".dot" + std::to_string(i) + " ";
  const std::string field = format_header_field("X-Dots", value);
  std::string out;
  DataWriter w(out);
  w.line(field);
  w.line("");
  w.line("body");
  w.finish();
  CHECK(only_crlf(out));
  // Reading it back gives the folded lines unchanged: continuation lines start with a space,
  // so the writer did not need to stuff them.
  const Outcome o = run_data(out, {}, mode_limits(BareNewlines::Reject));
  CHECK_FALSE(o.error.has_value());
  REQUIRE(o.lines.size() >= 3);
  std::string refolded;
  for (std::size_t i = 0; i + 2 < o.lines.size(); ++i) refolded += (i ? "\r\n" : "") + o.lines[i];
  CHECK(refolded == field);
}

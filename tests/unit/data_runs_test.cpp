// The data path's fast lane (issue 22): runs of clean lines (CleanLines) that the readers
// hand over whole and the writer copies as they are. The lane must change nothing but the
// speed: for any input, in both bare-newline modes and under tight limits, what reaches the
// upstream wire, the counters and the error are exactly what the octet-by-octet path gives
// (a reader fed one octet at a time never finds a whole line in its input, so it is that
// path alone). The smuggling matrix itself is data_path_test.cpp, unchanged.
#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "proxy/server/data_reader.hpp"
#include "proxy/server/data_writer.hpp"
#include "proxy/server/trace_headers.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace std::string_literals;

namespace {

struct Wire {
  std::string out;  // what a DataWriter put on the upstream wire
  std::size_t consumed = 0;
  bool done = false;
  std::optional<std::string> error;
  std::uint64_t size = 0, lines = 0, wire_bytes = 0, runs = 0, run_lines = 0;
  bool eight_bit = false;
};

// Feeds `input` to a DataReader in pieces of `piece` octets; with `use_runs`, clean runs go
// to DataWriter::lines(), otherwise every line to DataWriter::line().
Wire relay(std::string_view input, std::size_t piece, bool use_runs, const DataLimits& limits) {
  Wire w;
  DataReader reader(limits);
  DataWriter writer(w.out);
  const LineSink line = [&](std::string_view l) { writer.line(l); };
  const CleanLinesSink runs = [&](const CleanLines& r) {
    ++w.runs;
    w.run_lines += r.count();
    writer.lines(r);
  };
  for (std::size_t at = 0; at < input.size() && !reader.done(); at += piece) {
    const auto bytes = input.substr(at, piece);
    const auto res = use_runs ? reader.feed(bytes, line, runs) : reader.feed(bytes, line);
    w.consumed += res.consumed;
  }
  w.done = reader.done();
  if (reader.error()) w.error = reader.error()->first_line();
  w.size = reader.size();
  w.lines = reader.lines();
  w.wire_bytes = reader.wire_bytes();
  w.eight_bit = reader.eight_bit();
  return w;
}

void check_same(const Wire& got, const Wire& octetwise) {
  CHECK(got.out == octetwise.out);
  CHECK(got.consumed == octetwise.consumed);
  CHECK(got.done == octetwise.done);
  CHECK(got.error == octetwise.error);
  // After an error the size is how far the reader had counted, which depends on where the
  // pieces were cut even octet by octet (a long run fails whole, octets one at a time); it
  // only has to agree for a message that was accepted.
  if (!octetwise.error) CHECK(got.size == octetwise.size);
  CHECK(got.lines == octetwise.lines);
  CHECK(got.wire_bytes == octetwise.wire_bytes);
  CHECK(got.eight_bit == octetwise.eight_bit);
}

// Random messages made of the pieces smuggling is made of, and plenty of ordinary lines.
std::string random_message(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "Subject: x", "\r\n",      "\r\n",          "\r\n",    "\n",       "\r",  ".",
      "..",         "\r\n.\r\n", "\n.\n",         "\r\n.\n", ".\r",      "\0"s, "caf\xc3\xa9",
      "\xff",       " folded",   "TLS-Relay: me", "a",       "abcdefgh", "\t",
  };
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> count(1, 60);
  std::uniform_int_distribution<int> kind(0, 3);
  std::string m;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    if (kind(rng) == 0) {
      m += std::string(static_cast<std::size_t>(count(rng)), 'x') + "\r\n";  // a clean line
    } else {
      m += pieces[pick(rng)];
    }
  }
  return m + "\r\n.\r\nQUIT\r\n";
}

}  // namespace

TEST_CASE("clean runs change nothing on the wire: random messages against octet by octet",
          "[data][runs]") {
  std::mt19937 rng(22);  // fixed seed: a failure is reproducible
  const auto mode = GENERATE(BareNewlines::Reject, BareNewlines::Normalize);
  for (int round = 0; round < 300; ++round) {
    const std::string input = random_message(rng);
    DataLimits limits;
    limits.bare_newlines = mode;
    // Tight limits in some rounds, so that runs meet the line and size limits too.
    if (round % 3 == 1) limits.max_line = 20;
    if (round % 5 == 2) limits.max_size = input.size() / 2;
    INFO("round " << round << " input size " << input.size());
    const Wire octetwise = relay(input, 1, false, limits);
    for (const std::size_t piece : {std::size_t{7}, std::size_t{64}, input.size()}) {
      INFO("pieces of " << piece);
      check_same(relay(input, piece, true, limits), octetwise);
      check_same(relay(input, piece, false, limits), octetwise);
    }
  }
}

TEST_CASE("a message of clean lines is handed over as one run", "[data][runs]") {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "line " + std::to_string(i) + " of the body\r\n";
  const Wire w = relay(body + ".\r\n", body.size() + 3, true, {});
  CHECK(w.done);
  CHECK(w.runs == 1);
  CHECK(w.run_lines == 1000);
  CHECK(w.lines == 1000);
  CHECK(w.out == body);  // the terminator is not a line; DataWriter::finish() writes ours
}

TEST_CASE("lines that need a decision leave the run, each one", "[data][runs]") {
  // A leading dot (stuffing), a bare LF, a bare CR, a NUL, a line over the limit, and an
  // unfinished line at the end of the input: none is ever part of a clean run.
  auto [input, run_lines] = GENERATE(table<std::string, std::uint64_t>({
      {"a\r\n..b\r\nc\r\n.\r\n", 2},
      {"a\r\nb\nc\r\n.\r\n", 1},
      {"a\r\nb\rc\r\nd\r\n.\r\n", 2},
      {std::string("a\r\nb\0c\r\nd\r\n.\r\n", 14), 1},
      {"a\r\n" + std::string(1000, 'x') + "\r\nb\r\n.\r\n", 1},
  }));
  DataLimits limits;
  limits.bare_newlines = BareNewlines::Normalize;
  const Wire w = relay(input, input.size(), true, limits);
  const Wire octetwise = relay(input, 1, false, limits);
  CHECK(w.run_lines == run_lines);
  check_same(w, octetwise);
}

TEST_CASE("BDAT chunks: runs stop at chunk ends and a CR held across chunks", "[data][runs]") {
  const std::vector<std::string> chunks = {"a\r\nb\r\nc\r", "\nd\r\n..e\r\n", "f\r\ng"};
  auto run = [&](bool use_runs) {
    BdatReader reader;
    std::string out;
    DataWriter writer(out);
    std::uint64_t run_lines = 0;
    const LineSink line = [&](std::string_view l) { writer.line(l); };
    const CleanLinesSink runs = [&](const CleanLines& r) {
      run_lines += r.count();
      writer.lines(r);
    };
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      reader.begin_chunk(chunks[i].size(), i + 1 == chunks.size());
      if (use_runs) {
        reader.feed(chunks[i], line, runs);
      } else {
        reader.feed(chunks[i], line);
      }
    }
    CHECK(reader.done());
    CHECK_FALSE(reader.error());
    writer.finish();
    return std::make_pair(out, run_lines);
  };
  const auto [with_runs, run_lines] = run(true);
  const auto [line_by_line, none] = run(false);
  // BDAT has no stuffing: "..e" is content, which our DATA framing stuffs.
  CHECK(with_runs == "a\r\nb\r\nc\r\nd\r\n...e\r\nf\r\ng\r\n.\r\n");
  CHECK(with_runs == line_by_line);
  CHECK(run_lines == 4);  // a, b; d after the CR held across chunks; f
}

TEST_CASE("the header guard takes runs apart while in the headers", "[data][runs][headers]") {
  // Our field name in the client's headers is renamed whether the line came alone or in a
  // run; after the header section the run passes whole.
  const std::string input =
      "From: a@x.test\r\nTLS-Relay: forged\r\nSubject: s\r\n\r\nTLS-Relay: body text\r\n.\r\n";
  auto run = [&](bool use_runs) {
    DataReader reader;
    ClientHeaderGuard guard;
    std::string out;
    DataWriter writer(out);
    const LineSink line = [&](std::string_view l) { guard.line(l, writer); };
    const CleanLinesSink runs = [&](const CleanLines& r) { guard.lines(r, writer); };
    if (use_runs) {
      reader.feed(input, line, runs);
    } else {
      for (char c : input) reader.feed(std::string_view(&c, 1), line);
    }
    CHECK(reader.done());
    CHECK(guard.renamed() == 1);
    return out;
  };
  const std::string with_runs = run(true);
  CHECK(with_runs == run(false));
  CHECK(with_runs.find("\r\nX-Untrusted-TLS-Relay: forged\r\n") != std::string::npos);
  CHECK(with_runs.find("\r\n\r\nTLS-Relay: body text\r\n") != std::string::npos);
}

TEST_CASE("a block boundary anywhere: lines split across reads, dots and CRs at the cut",
          "[data][runs]") {
  // Every cut of each message into two reads, against octet by octet: a line split across
  // reads, a CR read without its LF, a leading dot (stuffing, or the terminator) as the last
  // octet of a read, a line of exactly the limit and one octet over it.
  DataLimits limits;
  limits.max_line = 12;  // 10 octets of content and CRLF
  limits.bare_newlines = GENERATE(BareNewlines::Reject, BareNewlines::Normalize);
  const std::string exact(10, 'x');
  const auto input =
      GENERATE_COPY("one\r\ntwo\r\n..three\r\n" + exact + "\r\nfour\r\n.\r\nQUIT\r\n",  // accepted
                    "one\r\n.\rtwo\r\nthree\nfour\r\n.\r\n",  // bare CR, bare LF
                    "one\r\n" + exact + "y\r\ntwo\r\n.\r\n",  // one octet too long
                    "one\r\n.\n.\r\n.\r\n");                  // not an end, then the end
  INFO("input " << input.size() << " octets");
  const Wire octetwise = relay(input, 1, false, limits);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    INFO("cut at " << cut);
    Wire w;
    DataReader reader(limits);
    DataWriter writer(w.out);
    const LineSink line = [&](std::string_view l) { writer.line(l); };
    const CleanLinesSink runs = [&](const CleanLines& r) { writer.lines(r); };
    const std::string_view all(input);
    w.consumed += reader.feed(all.substr(0, cut), line, runs).consumed;
    if (!reader.done()) w.consumed += reader.feed(all.substr(cut), line, runs).consumed;
    w.done = reader.done();
    if (reader.error()) w.error = reader.error()->first_line();
    w.size = reader.size();
    w.lines = reader.lines();
    w.wire_bytes = reader.wire_bytes();
    w.eight_bit = reader.eight_bit();
    check_same(w, octetwise);
  }
}

TEST_CASE("a run ends before a line over the limit, and the line gets the limit's reply",
          "[data][runs]") {
  DataLimits limits;
  limits.max_line = 12;
  const std::string input = "ok\r\nfine\r\n" + std::string(11, 'x') + "\r\nlater\r\n.\r\n";
  const Wire w = relay(input, input.size(), true, limits);
  CHECK(w.done);
  CHECK(w.run_lines == 2);  // "ok" and "fine"; "later" comes after the error, not passed on
  REQUIRE(w.error);
  CHECK(w.error->rfind("500", 0) == 0);
  CHECK(w.out == "ok\r\nfine\r\n");
}

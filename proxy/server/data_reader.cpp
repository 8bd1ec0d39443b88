#include "proxy/server/data_reader.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace tlsrelay::proxy {
namespace {

// 554 "Transaction failed" is the RFC 5321 4.3.2 answer to the final "." for a message
// refused as a whole; 5.5.2 is the syntax of the transfer (Postfix uses it for bare LF,
// with 521 because it hangs up; we keep the connection, having found the real end).
Reply bare_reply() {
  return make_reply(554, "5.5.2", "Message contains bare CR, bare LF or NUL (see RFC 5321 2.3.8)");
}
// RFC 5321 4.5.3.1.10 "500 Line too long".
Reply too_long_reply() {
  return make_reply(500, "5.5.0", "Line too long");
}
// RFC 1870 6.1; the text Postfix uses.
Reply too_big_reply() {
  return make_reply(552, "5.3.4", "Message size exceeds fixed limit");
}

bool is_line_octet(char c) {
  return c != '\r' && c != '\n' && c != '\0';
}

LineSink vector_sink(std::vector<std::string>& lines) {
  return [&lines](std::string_view l) { lines.emplace_back(l); };
}

// Whether any octet is >= 0x80, eight at a time.
bool has_eight_bit(std::string_view s) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, s.data() + i, sizeof word);
    acc |= word;
  }
  for (; i < s.size(); ++i) acc |= static_cast<unsigned char>(s[i]);
  return (acc & 0x8080808080808080ULL) != 0;
}

}  // namespace

// ---- CleanLines -----------------------------------------------------------------------

std::pair<std::string_view, CleanLines> CleanLines::split_first() const {
  assert(count_ > 0);
  const std::size_t lf = bytes_.find('\n');
  return {bytes_.substr(0, lf - 1), CleanLines(bytes_.substr(lf + 1), count_ - 1)};
}

void CleanLines::each(const LineSink& sink) const {
  const char* p = bytes_.data();
  const char* const end = p + bytes_.size();
  while (p < end) {
    const auto* lf =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    sink(std::string_view(p, static_cast<std::size_t>(lf - 1 - p)));
    p = lf + 1;
  }
}

namespace detail {

LineCore::LineCore(const DataLimits& limits, bool dots) : limits_(limits), dots_(dots) {}

void LineCore::reset() {
  line_.clear();
  cr_ = false;
  real_start_ = true;
  wire_len_ = 0;
  first_dot_ = false;
  done_ = false;
  error_.reset();
  size_ = 0;
  lines_ = 0;
  eight_bit_ = false;
  wire_bytes_ = 0;
}

void LineCore::fail(Reply reply) {
  if (!error_) error_ = std::move(reply);
  // Nothing more is held: the rest of the message is only scanned for its end.
  line_.clear();
}

std::size_t LineCore::consume(std::string_view bytes, const LineSink& sink,
                              const CleanLinesSink* runs) {
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  // Where the first NUL is, looked for once (not once per run: that could be quadratic in
  // a block of dot-stuffed lines); after it the reader has failed and takes no more runs.
  const std::size_t nul_at = bytes.find('\0');
  while (i < n && !done_) {
    if (!cr_ && wire_len_ == 0 && real_start_ && !error_) {
      i += clean_run(bytes.substr(i),
                     nul_at == std::string_view::npos ? n : nul_at - std::min(nul_at, i), sink,
                     runs);
      if (i == n) break;
    }
    const char c = bytes[i];
    if (cr_) {
      cr_ = false;
      if (c == '\n') {
        ++i;
        end_line(true, sink);
        continue;
      }
      // The held CR was bare; c is looked at afresh below.
      bare_ending(sink);
    }
    if (c == '\r') {
      cr_ = true;
      ++i;
    } else if (c == '\n') {
      bare_ending(sink);
      ++i;
    } else if (c == '\0') {
      nul();
      ++i;
    } else if (wire_len_ == 0) {
      content(c);
      ++i;
    } else {
      // Past the first octet of a line nothing depends on single octets until the next
      // CR, LF or NUL, so the run is checked against the limits and taken whole.
      // One pass octet by octet (a memchr per kind could rescan a line of bare CRs without
      // end for each of them); the bulk of a message takes the clean runs instead.
      const auto end = std::find_if_not(bytes.begin() + static_cast<std::ptrdiff_t>(i), bytes.end(),
                                        is_line_octet);
      const auto len = static_cast<std::size_t>(end - bytes.begin()) - i;
      wire_len_ += len;
      append(bytes.substr(i, len));
      i += len;
    }
  }
  wire_bytes_ += i;
  return i;
}

std::size_t LineCore::clean_run(std::string_view bytes, std::size_t nul_at, const LineSink& sink,
                                const CleanLinesSink* runs) {
  // Only lines the octet path below would emit unchanged, with nothing to decide: ended by
  // CRLF (a bare LF, or a CR not before LF, is CVE-2023-51764 material and goes the long
  // way), no NUL, no leading "." (stuffing, or the end of data), within both limits (their
  // replies come from the octet path too). The first line that is not, or is unfinished,
  // ends the run there.
  const std::size_t max_content = limits_.max_line > 2 ? limits_.max_line - 2 : 0;
  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  const char* p = begin;
  std::uint64_t count = 0;
  std::uint64_t size = size_;
  const char* const nul = begin + std::min(nul_at, bytes.size());
  while (p < end) {
    const auto* lf =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (lf == nullptr || lf == p || lf[-1] != '\r' || *p == '.' || nul < lf) break;
    const auto len = static_cast<std::size_t>(lf - 1 - p);
    if (len > max_content || size + len + 2 > limits_.max_size) break;
    if (std::memchr(p, '\r', len) != nullptr) break;
    size += len + 2;
    ++count;
    p = lf + 1;
  }
  if (count == 0) return 0;
  const std::string_view run(begin, static_cast<std::size_t>(p - begin));
  if (!eight_bit_) eight_bit_ = has_eight_bit(run);
  size_ = size;
  lines_ += count;
  const CleanLines clean(run, count);
  if (runs != nullptr) {
    (*runs)(clean);
  } else {
    clean.each(sink);
  }
  return run.size();
}

void LineCore::finish(const LineSink& sink) {
  // BDAT LAST: a CR at the very end has no LF coming; it is bare.
  if (cr_) {
    cr_ = false;
    bare_ending(sink);
  }
  // An unterminated last line is still a line; the writer ends it with CRLF.
  if (wire_len_ > 0) end_line(false, sink);
  done_ = true;
}

void LineCore::content(char c) {
  ++wire_len_;
  // RFC 5321 4.5.2: a leading "." is withheld; it is stuffing if more octets follow on this
  // line, the end of data if CRLF follows, and content "." if a bare line ending follows
  // (Normalize). Only at a real line start: after a bare CR or LF the sender did not stuff.
  if (dots_ && real_start_ && wire_len_ == 1 && c == '.') {
    first_dot_ = true;
    return;
  }
  append(std::string_view(&c, 1));
}

void LineCore::append(std::string_view run) {
  if (!eight_bit_) eight_bit_ = has_eight_bit(run);
  if (error_) return;
  // Limits before buffering. The line limit counts CRLF and not a stuffing dot
  // (RFC 5321 4.5.3.1.6); the size limit counts what RFC 1870 counts.
  const std::size_t max_content = limits_.max_line > 2 ? limits_.max_line - 2 : 0;
  if (line_.size() + run.size() > max_content) {
    fail(too_long_reply());
    return;
  }
  if (size_ + run.size() > limits_.max_size) {
    fail(too_big_reply());
    return;
  }
  line_.append(run);
  size_ += run.size();
}

void LineCore::bare_ending(const LineSink& sink) {
  // CVE-2023-51764/51765/51766: a bare CR or LF is where receivers disagree.
  if (limits_.bare_newlines == BareNewlines::Reject) fail(bare_reply());
  end_line(false, sink);
}

void LineCore::nul() {
  ++wire_len_;
  // NUL is not allowed in a message (RFC 5322 2.2, RFC 6152 2) and ends C strings in
  // filters further on. It is refused in both modes: dropping it could change the message's
  // structure behind the sender's back ("\0" alone becomes the empty line that ends the
  // header section, "--boundary\0" a MIME boundary), which is what smuggling is made of.
  fail(bare_reply());
}

void LineCore::end_line(bool crlf, const LineSink& sink) {
  // RFC 5321 4.1.1.4: exactly CRLF "." CRLF, with the first CRLF ending the previous line.
  // Nothing else ends DATA: not "\n.\n", not ".\r\r\n", not "\0.\r\n", not ".\0\r\n".
  if (dots_ && crlf && real_start_ && first_dot_ && wire_len_ == 1) {
    done_ = true;
    line_.clear();
    wire_len_ = 0;
    first_dot_ = false;
    return;
  }
  if (!error_ && first_dot_ && wire_len_ == 1) append(".");
  if (!error_) {
    if (size_ + 2 > limits_.max_size) {
      fail(too_big_reply());
    } else {
      size_ += 2;
      ++lines_;
      sink(line_);
    }
  }
  line_.clear();
  wire_len_ = 0;
  first_dot_ = false;
  real_start_ = crlf;
}

}  // namespace detail

// ---- DataReader -----------------------------------------------------------------------

DataReader::DataReader(DataLimits limits) : core_(limits, true) {}

DataReader::Result DataReader::feed(std::string_view bytes, const LineSink& sink) {
  if (core_.done()) return {Status::Done, 0};
  const std::size_t used = core_.consume(bytes, sink, nullptr);
  return {core_.done() ? Status::Done : Status::NeedMore, used};
}

DataReader::Result DataReader::feed(std::string_view bytes, const LineSink& sink,
                                    const CleanLinesSink& runs) {
  if (core_.done()) return {Status::Done, 0};
  const std::size_t used = core_.consume(bytes, sink, &runs);
  return {core_.done() ? Status::Done : Status::NeedMore, used};
}

DataReader::Result DataReader::feed(std::string_view bytes, std::vector<std::string>& lines) {
  return feed(bytes, vector_sink(lines));
}

// ---- BdatReader -----------------------------------------------------------------------

BdatReader::BdatReader(DataLimits limits) : core_(limits, false) {}

void BdatReader::begin_chunk(std::uint64_t size, bool last) {
  assert(!in_chunk_ && !core_.done() && "BDAT chunk started while another is being read");
  in_chunk_ = true;
  last_ = last;
  remaining_ = size;
  // The size is announced, so the limit is enforced before a byte of the chunk is read.
  const std::uint64_t max = core_.limits().max_size;
  if (size > max || announced_ > max - size) core_.fail(too_big_reply());
  announced_ = size > UINT64_MAX - announced_ ? UINT64_MAX : announced_ + size;
}

BdatReader::Result BdatReader::feed(std::string_view bytes, const LineSink& sink) {
  return feed_runs(bytes, sink, nullptr);
}

BdatReader::Result BdatReader::feed(std::string_view bytes, const LineSink& sink,
                                    const CleanLinesSink& runs) {
  return feed_runs(bytes, sink, &runs);
}

BdatReader::Result BdatReader::feed_runs(std::string_view bytes, const LineSink& sink,
                                         const CleanLinesSink* runs) {
  if (core_.done()) return {Status::Done, 0};
  if (!in_chunk_) return {Status::ChunkDone, 0};
  const auto take = static_cast<std::size_t>(
      std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(bytes.size())));
  const std::size_t used = core_.consume(bytes.substr(0, take), sink, runs);
  assert(used == take);
  remaining_ -= used;
  if (remaining_ > 0) return {Status::NeedMore, used};
  in_chunk_ = false;
  if (last_) {
    core_.finish(sink);
    return {Status::Done, used};
  }
  return {Status::ChunkDone, used};
}

BdatReader::Result BdatReader::feed(std::string_view bytes, std::vector<std::string>& lines) {
  return feed(bytes, vector_sink(lines));
}

void BdatReader::reset() {
  core_.reset();
  in_chunk_ = false;
  last_ = false;
  remaining_ = 0;
  announced_ = 0;
}

}  // namespace tlsrelay::proxy

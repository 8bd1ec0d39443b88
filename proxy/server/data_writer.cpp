#include "proxy/server/data_writer.hpp"

#include <cassert>
#include <cstring>

#include "common/text.hpp"

namespace tlsrelay::proxy {
namespace {

// Last index k in [lo, hi] where a fold may go; `before_wsp`: the line breaks before a WSP
// at k; otherwise after a ';' at k - 1.
std::size_t find_fold(std::string_view s, std::size_t lo, std::size_t hi, bool before_wsp) {
  if (hi >= s.size()) hi = s.size() - 1;
  for (std::size_t k = hi; k >= lo && k > 0; --k) {
    if (before_wsp ? is_wsp(s[k]) : (s[k - 1] == ';' && !is_wsp(s[k]))) return k;
  }
  return std::string_view::npos;
}

// The first CR or LF in `s`, or npos. (string_view::find_first_of would call memchr for
// every octet.)
std::size_t find_break(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n') return i;
  }
  return std::string_view::npos;
}

}  // namespace

DataWriter::DataWriter(std::string& out, Framing framing) : out_(&out), framing_(framing) {}

void DataWriter::line(std::string_view content) {
  assert(!finished_ && "DataWriter::line() after finish()");
  // A CR or LF would put a line break on the wire that the reader never saw as one; every
  // one of them, and CRLF, becomes a real line end here, each line stuffed on its own.
  while (true) {
    const auto brk = find_break(content);
    if (brk == std::string_view::npos) break;
    one_line(content.substr(0, brk));
    const bool crlf = content[brk] == '\r' && brk + 1 < content.size() && content[brk + 1] == '\n';
    content.remove_prefix(brk + (crlf ? 2 : 1));
  }
  one_line(content);
}

void DataWriter::one_line(std::string_view content) {
  // RFC 5321 4.5.2: a line that begins with "." gets another one. Every such line, not
  // just ".": a receiver removes the first dot of every line that has one.
  if (framing_ == Framing::Data && !content.empty() && content.front() == '.') *out_ += '.';
  while (!content.empty()) {
    const auto* nul = static_cast<const char*>(std::memchr(content.data(), '\0', content.size()));
    const std::size_t run =
        nul == nullptr ? content.size() : static_cast<std::size_t>(nul - content.data());
    out_->append(content.data(), run);
    content.remove_prefix(nul == nullptr ? run : run + 1);
  }
  *out_ += "\r\n";
  ++lines_;
}

void DataWriter::lines(const CleanLines& run) {
  assert(!finished_ && "DataWriter::lines() after finish()");
  // Each line ends in CRLF, has no other CR, LF or NUL and no leading "." (the reader's
  // checks, CleanLines): as this writer would write it line by line, in either framing.
  out_->append(run.bytes());
  lines_ += run.count();
}

void DataWriter::finish() {
  assert(!finished_ && "DataWriter::finish() twice");
  if (framing_ == Framing::Data) *out_ += ".\r\n";
  finished_ = true;
}

std::string format_header_field(std::string_view name, std::string_view value) {
  // RFC 5322 3.6.8: a field name is printable ASCII without ":".
  std::string line;
  for (char c : name) {
    if (c > 32 && c < 127 && c != ':') line += c;
  }
  line += ':';
  const std::size_t name_end = line.size();
  // Header injection: no CR or LF may reach the field, nor NUL or other controls
  // (RFC 5322 2.2 allows only printable characters and WSP in a field body).
  std::string clean;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\t' || u >= 32) {
      if (u != 127) clean += c;
    }
  }
  if (!clean.empty()) {
    line += ' ';
    line += clean;
  }

  std::string out;
  std::string rest = std::move(line);
  bool first = true;
  while (rest.size() > kFoldHeaderAt) {
    // The broken-off line must keep something besides WSP (RFC 5322 3.2.2), and the first
    // one more than the name.
    std::size_t lo = 1;
    if (first) {
      lo = name_end + 2;
    } else {
      while (lo < rest.size() && is_wsp(rest[lo])) ++lo;
      ++lo;
    }
    std::size_t k = find_fold(rest, lo, kFoldHeaderAt, true);
    bool add_space = false;
    if (k == std::string::npos) {
      k = find_fold(rest, lo, kFoldHeaderAt, false);
      add_space = k != std::string::npos;
    }
    if (k == std::string::npos && rest.size() > kFoldHeaderAt) {
      // A token longer than 78: fold at the first chance after it, within 998.
      for (std::size_t j = kFoldHeaderAt + 1; j < rest.size() && j <= kMaxHeaderLine; ++j) {
        if (is_wsp(rest[j])) {
          k = j;
          break;
        }
        if (rest[j - 1] == ';') {
          k = j;
          add_space = true;
          break;
        }
      }
    }
    if (k == std::string::npos) {
      if (rest.size() <= kMaxHeaderLine) break;
      // RFC 5322 2.1.1 makes 998 a MUST; a run that long is cut.
      k = kMaxHeaderLine;
      add_space = true;
    }
    out += rest.substr(0, k);
    out += "\r\n";
    std::string next;
    if (add_space) next += ' ';
    next.append(rest, k);
    rest = std::move(next);
    first = false;
  }
  out += rest;
  return out;
}

}  // namespace tlsrelay::proxy

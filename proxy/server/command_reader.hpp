// Splitting the client's byte stream into SMTP command lines (RFC 5321 2.3.8, 4.5.3.1.4):
// at most one line is held, and a line over the limit is refused without being buffered.
// No I/O; one reader per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "common/smtp_reply.hpp"
#include "proxy/server/limits.hpp"

namespace tlsrelay::proxy {

// A parsed value, or the reply that tells the client why its input was refused.
template <class T>
using ParseResult = std::variant<T, Reply>;

// Splits the client's byte stream into command lines. feed() stops right after the first
// complete line so that the caller can hand the bytes that follow to a DataReader (after
// DATA), a BdatReader (after BDAT) or discard them (after STARTTLS, RFC 3207 5).
class CommandReader {
 public:
  enum class Status { NeedMore, Line };
  struct Result {
    Status status;
    std::size_t consumed;  // octets of `bytes` used; the rest belongs to what follows
  };

  explicit CommandReader(std::size_t max_line = kMaxCommandLine);

  // While a line is pending (Status::Line and not yet taken) feed() consumes nothing.
  Result feed(std::string_view bytes);
  // The line without its CRLF, or why it is refused: longer than max_line (the excess is
  // discarded, never buffered), or ended by a bare LF (RFC 5321 2.3.8). The reader has
  // resynchronised at the LF either way.
  ParseResult<std::string> take();
  bool line_pending() const { return pending_; }
  // Octets of an incomplete line held (at most max_line - 2: the limit counts the CRLF).
  std::size_t buffered() const { return line_.size(); }
  void reset();

 private:
  std::size_t max_line_;
  std::string line_;
  bool cr_ = false;        // a CR is held until the next octet says whether it is CRLF
  bool too_long_ = false;  // the current line passed max_line; the rest is dropped
  bool pending_ = false;   // a complete line waits for take()
  bool bare_lf_ = false;   // the pending line ended with LF alone
};

}  // namespace tlsrelay::proxy

// SMTP replies as values, and an incremental parser that assembles them from lines.
//
// The parser does no I/O: it is fed one line at a time (without its line ending) and says
// when a whole reply (RFC 5321 4.2, multi-line with "-") is complete, or that the text is
// not SMTP. Limits (line length, lines per reply) are enforced here so that a hostile
// server cannot make us buffer without bound. Not thread-safe; one parser per connection.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay {

struct Reply {
  int code = 0;                    // 100..599
  std::string enhanced;            // RFC 3463 "x.y.z" from the first line, or ""
  std::vector<std::string> lines;  // text after "NNN " / "NNN-", one per line

  bool positive() const { return code >= 200 && code < 400; }
  bool transient_failure() const { return code >= 400 && code < 500; }
  bool permanent_failure() const { return code >= 500; }
  // "250 first line" - the first line as it was on the wire, for hints and details.
  std::string first_line() const;
  // All lines joined with " / ", for a one-line detail.
  std::string joined() const;
};

// Limits for replies from a server we do not trust (RFC 5321 4.5.3.1.5 says 512 octets;
// real servers exceed it, so be generous but bounded).
inline constexpr std::size_t kMaxReplyLine = 4096;
inline constexpr std::size_t kMaxReplyLines = 200;

class ReplyParser {
 public:
  enum class Status { NeedMore, Complete, NotSmtp };

  // Feeds one line without CR/LF. After Complete, take() the reply; after NotSmtp the
  // connection is not speaking SMTP and the parser must not be fed again.
  Status feed(std::string_view line);
  Reply take();
  // Why the last feed() said NotSmtp.
  const std::string& error() const { return error_; }
  void reset();

 private:
  Reply partial_;
  bool in_reply_ = false;
  std::string error_;
};

// The one-line replies we write ourselves: "451 4.7.5 text", or "354 text" without an
// enhanced code. The line is cut at 480 octets with "..." (RFC 5321 4.5.3.1.5: a reply line
// is at most 512 octets with its code and CRLF).
Reply make_reply(int code, std::string_view enhanced, std::string_view text);

// The reply on the wire: "250-first\r\n250 last\r\n". CR, LF and NUL inside a line (from a
// hostile upstream whose reply we pass on) become spaces, so one reply stays one reply.
std::string to_wire(const Reply& reply);

// Parses a complete single- or multi-line reply from text (lines separated by CRLF or LF).
// For tests and for replies captured whole.
std::optional<Reply> parse_reply_text(std::string_view text);

// Whether a byte string looks like the start of an SMTP reply ("220 ", "250-", "554").
bool looks_like_smtp_reply(std::string_view bytes);

}  // namespace tlsrelay

#include "proxy/server/command_reader.hpp"

namespace tlsrelay::proxy {

CommandReader::CommandReader(std::size_t max_line) : max_line_(max_line < 3 ? 3 : max_line) {}

CommandReader::Result CommandReader::feed(std::string_view bytes) {
  if (pending_) return {Status::Line, 0};
  // The limit counts the CRLF (RFC 5321 4.5.3.1.4), so content may use max_line - 2.
  auto append = [this](char c) {
    if (line_.size() < max_line_ - 2) {
      line_ += c;
    } else {
      too_long_ = true;
    }
  };
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\n') {
      // A bare LF still ends the line: every SMTP server resynchronises there, and so must
      // we, or the next command would be read differently by us and by the client.
      bare_lf_ = !cr_;
      cr_ = false;
      pending_ = true;
      return {Status::Line, i + 1};
    }
    if (cr_) {
      append('\r');  // a CR not followed by LF is content; parse_command() refuses it
      cr_ = false;
    }
    if (c == '\r') {
      cr_ = true;
    } else {
      append(c);
    }
  }
  return {Status::NeedMore, bytes.size()};
}

ParseResult<std::string> CommandReader::take() {
  const bool too_long = too_long_;
  const bool bare_lf = bare_lf_;
  std::string line = std::move(line_);
  reset();
  // RFC 5321 4.5.3.1.10: "500 Line too long".
  if (too_long) return make_reply(500, "5.5.2", "Syntax error: line too long");
  // RFC 5321 2.3.8; Postfix smtpd_forbid_bare_newline.
  if (bare_lf) return make_reply(500, "5.5.2", "Syntax error: bare LF in command (RFC 5321 2.3.8)");
  return line;
}

void CommandReader::reset() {
  line_.clear();
  cr_ = false;
  too_long_ = false;
  pending_ = false;
  bare_lf_ = false;
}

}  // namespace tlsrelay::proxy

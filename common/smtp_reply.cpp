#include "common/smtp_reply.hpp"

#include <cctype>

namespace tlsrelay {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3463: class "." subject "." detail, class matching the reply's first digit.
std::string parse_enhanced(int code, std::string_view text) {
  std::size_t i = 0;
  auto digits = [&](std::size_t max) {
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < max) ++i;
    return i - start;
  };
  if (digits(1) != 1) return {};
  if (text[0] - '0' != code / 100) return {};
  if (i >= text.size() || text[i] != '.') return {};
  ++i;
  if (digits(3) == 0) return {};
  if (i >= text.size() || text[i] != '.') return {};
  ++i;
  if (digits(3) == 0) return {};
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

}  // namespace

std::string Reply::first_line() const {
  std::string s = std::to_string(code);
  if (!lines.empty() && !lines.front().empty()) {
    s += ' ';
    s += lines.front();
  }
  return s;
}

std::string Reply::joined() const {
  std::string s = std::to_string(code);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    s += i == 0 ? " " : " / ";
    s += lines[i];
  }
  return s;
}

ReplyParser::Status ReplyParser::feed(std::string_view line) {
  if (line.size() > kMaxReplyLine) {
    error_ = "reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
    return Status::NotSmtp;
  }
  // RFC 5321 4.2: Reply-code [ SP textstring ] CRLF, or Reply-code "-" for continuation.
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
      line[0] < '1' || line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    error_ = "not an SMTP reply line";
    return Status::NotSmtp;
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  const bool more = line.size() > 3 && line[3] == '-';
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};

  if (!in_reply_) {
    partial_ = Reply{};
    partial_.code = code;
    partial_.enhanced = parse_enhanced(code, text);
    in_reply_ = true;
  } else if (code != partial_.code) {
    error_ = "multi-line reply changed its code from " + std::to_string(partial_.code) + " to " +
             std::to_string(code);
    return Status::NotSmtp;
  }
  if (partial_.lines.size() >= kMaxReplyLines) {
    error_ = "reply has more than " + std::to_string(kMaxReplyLines) + " lines";
    return Status::NotSmtp;
  }
  partial_.lines.emplace_back(text);
  if (more) return Status::NeedMore;
  in_reply_ = false;
  return Status::Complete;
}

Reply ReplyParser::take() {
  return std::move(partial_);
}

void ReplyParser::reset() {
  partial_ = Reply{};
  in_reply_ = false;
  error_.clear();
}

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  constexpr std::size_t kMaxReplyText = 480;
  Reply r;
  r.code = code;
  r.enhanced = std::string(enhanced);
  std::string line = enhanced.empty() ? std::string(text) : r.enhanced + " " + std::string(text);
  if (line.size() > kMaxReplyText) line = line.substr(0, kMaxReplyText - 3) + "...";
  r.lines.push_back(std::move(line));
  return r;
}

std::string to_wire(const Reply& r) {
  std::string out;
  const std::string code = std::to_string(r.code);
  const std::size_t n = r.lines.empty() ? 1 : r.lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    out += code;
    out += i + 1 < n ? '-' : ' ';
    if (i < r.lines.size()) {
      for (char c : r.lines[i]) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    }
    out += "\r\n";
  }
  return out;
}

std::optional<Reply> parse_reply_text(std::string_view text) {
  ReplyParser parser;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    switch (parser.feed(line)) {
      case ReplyParser::Status::NeedMore:
        break;
      case ReplyParser::Status::Complete:
        return text.empty() ? std::optional(parser.take()) : std::nullopt;
      case ReplyParser::Status::NotSmtp:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

bool looks_like_smtp_reply(std::string_view bytes) {
  if (bytes.size() < 3) return false;
  if (bytes[0] < '1' || bytes[0] > '5' || !is_digit(bytes[1]) || !is_digit(bytes[2])) {
    return false;
  }
  return bytes.size() == 3 || bytes[3] == ' ' || bytes[3] == '-' || bytes[3] == '\r' ||
         bytes[3] == '\n';
}

}  // namespace tlsrelay

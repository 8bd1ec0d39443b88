#include "milter/header_text.hpp"

#include <algorithm>

namespace tlsrelay::milter {

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  bool truncated = false;
  for (unsigned char c : text) {
    // CR, LF and NUL would end or corrupt the header line (header injection); other
    // controls and 8-bit bytes are not allowed in an RFC 5322 field body without RFC 6532.
    char ch = (c < 0x20 || c == 0x7f) ? ' ' : (c > 0x7e ? '?' : static_cast<char>(c));
    if (ch == ' ' && (out.empty() || out.back() == ' ')) continue;
    if (out.size() >= max) {
      truncated = true;
      break;
    }
    out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (truncated) out += "...";
  return out;
}

std::string param_value(std::string_view value) {
  const bool token = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':' || c == '+' || c == '/' || c == '@';
  });
  if (token) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string fold_header_value(std::string_view name, std::string_view raw) {
  std::string value = printable(raw, kMaxValue);
  std::string out;
  // Length of the current line so far; the first line carries "NAME: ".
  std::size_t line = name.size() + 2;
  std::size_t i = 0;
  while (i < value.size()) {
    // The next piece: a space (if any) and the word after it.
    std::size_t end = value.find(' ', i + 1);
    if (end == std::string::npos) end = value.size();
    std::string_view piece(value.data() + i, end - i);
    const bool starts_with_space = piece.front() == ' ';
    if (starts_with_space && line + piece.size() > kFoldAt && line > 1) {
      out += '\n';  // the space stays: it is the continuation line's leading white space
      line = 0;
    }
    // A word that cannot fit even on a line of its own is cut: a line must stay under 998.
    while (line + piece.size() > kMaxLine - 2) {
      const std::size_t room = kMaxLine - 2 - line;
      out.append(piece.substr(0, room));
      out += "\n ";
      line = 1;
      piece.remove_prefix(room);
    }
    out.append(piece);
    line += piece.size();
    i = end;
  }
  return out;
}

std::string reply_text(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : printable(text, max)) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

}  // namespace tlsrelay::milter

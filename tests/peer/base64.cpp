#include "base64.hpp"

namespace tlsrelay::testpeer {

namespace {
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    unsigned value = 0;
    for (int j = 0; j < 4; ++j) {
      const int s = j >= 4 - pad ? 0 : sextet(text[i + j]);
      if (s < 0) return std::nullopt;
      value = (value << 6) | static_cast<unsigned>(s);
    }
    out += static_cast<char>((value >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((value >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(value & 0xff);
  }
  return out;
}

}  // namespace tlsrelay::testpeer

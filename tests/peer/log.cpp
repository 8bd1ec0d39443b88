#include "log.hpp"

#include <cstdio>
#include <mutex>

namespace tlsrelay::testpeer {

namespace {
std::mutex log_mutex;
}

void log_event(std::string_view line) {
  std::lock_guard lock(log_mutex);
  std::fprintf(stderr, "testpeer %.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stderr);
}

std::string quote(std::string_view text, std::size_t max_len) {
  std::string out = "\"";
  const bool cut = text.size() > max_len;
  if (cut) text = text.substr(0, max_len);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut) out += "...";
  out += '"';
  return out;
}

}  // namespace tlsrelay::testpeer

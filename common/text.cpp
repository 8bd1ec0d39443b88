#include "common/text.hpp"

#include <algorithm>

#include <cctype>
#include <cstdio>

namespace tlsrelay {

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string printable(std::string_view bytes, std::size_t max) {
  std::string out;
  for (unsigned char c : bytes) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string log_value(std::string_view text, std::size_t max) {
  std::string shown = printable(text, max);
  const bool token = !shown.empty() && std::all_of(shown.begin(), shown.end(), [](char c) {
    return c != ' ' && c != '"' && c != '=';
  });
  if (token) return shown;
  std::string quoted = "\"";
  for (char c : shown) {
    if (c == '"') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 1.0) {
    std::snprintf(buf, sizeof buf, "%.0f ms", s * 1000.0);
  } else if (s == static_cast<double>(static_cast<long long>(s))) {
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(s));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  }
  return buf;
}

bool iequals(std::string_view a, std::string_view b) {
  // ASCII only, whatever the locale: protocol keywords and header names are ASCII.
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view digits, std::uint64_t& out) {
  if (digits.empty() || digits.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool looks_like_tls_record(std::string_view b) {
  if (b.size() < 2) return false;
  auto type = static_cast<unsigned char>(b[0]);
  return type >= 20 && type <= 24 && static_cast<unsigned char>(b[1]) == 3;
}

std::string describe_protocol(std::string_view b) {
  if (istarts_with(b, "SSH-")) return "it is an SSH server";
  if (istarts_with(b, "HTTP/") || istarts_with(b, "<html") || istarts_with(b, "<!DOCTYPE")) {
    return "it is a web server";
  }
  if (istarts_with(b, "+OK")) return "it is a POP3 server";
  if (istarts_with(b, "* OK")) return "it is an IMAP server";
  if (looks_like_tls_record(b)) return "it speaks TLS";
  if (b.empty()) return "it sent nothing usable";
  return "it sent \"" + printable(b, 40) + "\"";
}

}  // namespace tlsrelay

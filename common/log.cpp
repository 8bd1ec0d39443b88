#include "common/log.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <mutex>

#include "common/text.hpp"
#include "common/time_format.hpp"

namespace tlsrelay {

namespace {

std::string& program() {
  static std::string name = "tlsrelay";
  return name;
}

}  // namespace

LogFields& LogFields::add(std::string_view key, std::string_view value) {
  if (!text_.empty()) text_ += ' ';
  text_ += key;
  text_ += '=';
  text_ += log_value(value);
  return *this;
}

LogFields& LogFields::add(std::string_view key, std::uint64_t number) {
  return add(key, std::to_string(number));
}

std::vector<std::pair<std::string, std::string>> parse_log_fields(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t eq = text.find('=', i);
    const std::size_t space = text.find(' ', i);
    if (eq == std::string_view::npos || (space != std::string_view::npos && space < eq)) break;
    std::string key(text.substr(i, eq - i));
    std::string value;
    std::size_t j = eq + 1;
    if (j < text.size() && text[j] == '"') {
      for (++j; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size()) ++j;  // a backslash takes the next as is
        value += text[j];
      }
      ++j;  // the closing quote
    } else {
      while (j < text.size() && text[j] != ' ') value += text[j++];
    }
    pairs.emplace_back(std::move(key), std::move(value));
    i = j + 1;
  }
  return pairs;
}

void set_log_program(std::string_view name) {
  program() = std::string(name);
}

void log_line(const std::string& session, const LogFields& fields) {
  static std::mutex mutex;
  const std::string line = iso8601_millis(std::chrono::system_clock::now()) + " " + program() +
                           "[" + std::to_string(getpid()) +
                           "]: " + (session.empty() ? std::string() : "session=" + session + " ") +
                           fields.text() + "\n";
  std::lock_guard lock(mutex);
  std::cerr << line << std::flush;
}

}  // namespace tlsrelay

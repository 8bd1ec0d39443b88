// Reading TOML for the loader: the problems found (every one with FILE:LINE:COL, all of
// them reported at once), typed access to one table that knows its keys and reports the
// unknown ones, and the text helpers for messages ("did you mean ...?").
//
// Internal to config/: toml++ types appear here and nowhere outside config/ (STYLE.md).
// Not thread-safe; one Problems and its readers per load.
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.hpp"
#include "config/settings.hpp"

namespace tlsrelay::config::detail {

// ---------------------------------------------------------------------------------------
// Reporting

struct Problem {
  int line;
  int column;
  std::string text;
};

// Collects every problem so that one run of check-config shows them all.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  void add(const toml::source_region& where, std::string text) {
    problems_.push_back({static_cast<int>(where.begin.line), static_cast<int>(where.begin.column),
                         std::move(text)});
  }
  SourceLocation location(const toml::source_region& where) const {
    return {file_, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)};
  }
  void throw_if_any() {
    if (problems_.empty()) return;
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    std::vector<std::string> lines;
    for (const auto& p : problems_) {
      lines.push_back(file_ + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
                      p.text);
    }
    throw ConfigError(std::move(lines));
  }

 private:
  std::string file_;
  std::vector<Problem> problems_;
};

// ---------------------------------------------------------------------------------------
// Text helpers for messages (toml_reader.cpp)

std::string quote(std::string_view s);
std::string type_name(toml::node_type t);
std::string alternatives(std::initializer_list<std::string_view> names);
std::size_t edit_distance(std::string_view a, std::string_view b);
std::string suggestion(std::string_view wrong, const std::vector<std::string>& known);
bool is_host_name(std::string_view s);
bool is_upstream_name(std::string_view s);
bool is_tls_version(std::string_view v);
std::string this_host_name();

// ---------------------------------------------------------------------------------------
// Reading one table

// Typed access to one TOML table. Every key asked for is "known"; finish() reports the
// rest as unknown keys. A getter that finds a wrong type or value records the problem and
// returns nothing, so the default stays and loading goes on to find further problems.
class TableReader {
 public:
  // `context` names the table in messages: "[proxy]", "[[upstream]]", "" for the top level.
  TableReader(const toml::table& table, std::string context, Problems& problems)
      : table_(table), context_(std::move(context)), problems_(problems) {}

  const toml::table& table() const { return table_; }
  const std::string& context() const { return context_; }
  Problems& problems() { return problems_; }

  // "[proxy] listen", or "listen" at the top level.
  std::string name(std::string_view key) const {
    return context_.empty() ? std::string(key) : context_ + " " + std::string(key);
  }

  const toml::node* get(std::string_view key) {
    known_.emplace_back(key);
    return table_.get(key);
  }

  // Where the key itself is written (for problems about the key, not its value).
  toml::source_region key_region(std::string_view key) const {
    for (auto&& [k, v] : table_) {
      if (k.str() == key) return k.source();
    }
    return table_.source();
  }

  void problem(const toml::node& at, std::string text) { problems_.add(at.source(), text); }

  void wrong_type(std::string_view key, const toml::node& n, std::string_view expected) {
    problem(n, name(key) + " must be " + std::string(expected) + ", not " + type_name(n.type()));
  }

  std::optional<std::string> string(std::string_view key, bool allow_empty = false) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    return string_value(*n, name(key), allow_empty);
  }

  std::optional<std::string> string_value(const toml::node& n, const std::string& what,
                                          bool allow_empty = false) {
    const auto* s = n.as_string();
    if (!s) {
      problem(n, what + " must be a string, not " + type_name(n.type()));
      return std::nullopt;
    }
    const std::string& v = s->get();
    if (v.empty() && !allow_empty) {
      problem(n, what + " must not be empty");
      return std::nullopt;
    }
    // Names and paths end up in logs, SMTP lines and headers: no control characters.
    if (std::any_of(v.begin(), v.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      problem(n, what + " must not contain control characters, not " + quote(v));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (const auto* b = n->as_boolean()) return b->get();
    wrong_type(key, *n, "true or false");
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const auto* i = n->as_integer();
    if (!i) {
      wrong_type(key, *n, "an integer");
      return std::nullopt;
    }
    const std::int64_t v = i->get();
    if (v < min || v > max) {
      problem(*n, name(key) + " must be from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", not " + std::to_string(v));
      return std::nullopt;
    }
    return v;
  }

  // A number of seconds (integer or fractional), kept to the millisecond.
  std::optional<Duration> seconds(std::string_view key, double min, double max) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    return seconds_value(*n, name(key), min, max);
  }

  std::optional<Duration> seconds_value(const toml::node& n, const std::string& what, double min,
                                        double max) {
    double v = 0;
    if (const auto* i = n.as_integer()) {
      v = static_cast<double>(i->get());
    } else if (const auto* f = n.as_floating_point()) {
      v = f->get();
    } else {
      problem(n, what + " must be a number of seconds, not " + type_name(n.type()));
      return std::nullopt;
    }
    std::ostringstream range;
    range << min << " to " << max;
    if (!std::isfinite(v) || v < min || v > max) {
      std::ostringstream got;
      got << v;
      problem(n, what + " must be from " + range.str() + " seconds, not " + got.str());
      return std::nullopt;
    }
    return Duration(static_cast<Duration::rep>(std::llround(v * 1000)));
  }

  const toml::array* array(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return nullptr;
    if (const auto* a = n->as_array()) return a;
    wrong_type(key, *n, "an array");
    return nullptr;
  }

  const toml::table* subtable(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return nullptr;
    if (const auto* t = n->as_table()) return t;
    wrong_type(key, *n, "a table");
    return nullptr;
  }

  // One of a fixed set of words; returns its index.
  std::optional<std::size_t> choice(std::string_view key,
                                    std::initializer_list<std::string_view> words) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const auto* s = n->as_string();
    std::size_t i = 0;
    if (s) {
      for (auto w : words) {
        if (s->get() == w) return i;
        ++i;
      }
    }
    problem(*n, name(key) + " must be " + alternatives(words) + ", not " +
                    (s ? quote(s->get()) : type_name(n->type())));
    return std::nullopt;
  }

  void finish() {
    for (auto&& [k, v] : table_) {
      if (std::find(known_.begin(), known_.end(), k.str()) != known_.end()) continue;
      const std::string where = context_.empty() ? "at the top level" : "in " + context_;
      problems_.add(k.source(),
                    "unknown key " + quote(k.str()) + " " + where + suggestion(k.str(), known_));
    }
  }

 private:
  const toml::table& table_;
  std::string context_;
  Problems& problems_;
  std::vector<std::string> known_;
};

template <typename T>
void set_if(std::optional<T> v, T& out) {
  if (v) out = std::move(*v);
}

template <typename T, typename V>
void set_if_as(std::optional<V> v, T& out) {
  if (v) out = static_cast<T>(*v);
}

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr double kDay = 86400;

}  // namespace tlsrelay::config::detail

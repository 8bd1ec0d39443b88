#include "config/loader.hpp"

#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/failure_class.hpp"
#include "config/policy_rules.hpp"

namespace tlsrelay::config {
namespace {

using namespace std::chrono_literals;

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
// Text helpers for messages

// A value as the user wrote it, quoted, with control characters made visible.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 80)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 80) out += "...";
  return out + "\"";
}

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// "\"a\", \"b\" or \"c\""
std::string alternatives(std::initializer_list<std::string_view> names) {
  std::string out;
  std::size_t i = 0;
  for (auto n : names) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += quote(n);
    ++i;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// " (did you mean \"x\"?)" for a near miss, else "".
std::string suggestion(std::string_view wrong, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = 3;  // at most two edits away
  for (const auto& k : known) {
    const std::size_t d = edit_distance(wrong, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean " + quote(best) + "?)";
}

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (s.back() == '.') s.remove_suffix(1);
  std::size_t start = 0;
  while (start <= s.size()) {
    auto dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    const auto label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    start = dot + 1;
  }
  return true;
}

bool is_upstream_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool is_tls_version(std::string_view v) {
  return v == "1.0" || v == "1.1" || v == "1.2" || v == "1.3";
}

std::string this_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

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

// ---------------------------------------------------------------------------------------
// The sections

void read_timeouts(TableReader& r, ProxyTimeouts& t) {
  set_if(r.seconds("command_s", 0.001, kDay), t.command);
  set_if(r.seconds("data_block_s", 0.001, kDay), t.data_block);
  set_if(r.seconds("data_done_s", 0.001, kDay), t.data_done);
  r.finish();
}

void read_proxy(TableReader& r, ProxySettings& p) {
  if (const auto* a = r.array("listen")) {
    std::vector<SocketAddress> listen;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string what = r.name("listen") + "[" + std::to_string(i) + "]";
      auto text = r.string_value(e, what);
      if (!text) continue;
      std::string why;
      auto sa = parse_socket_address(*text, why);
      if (!sa) {
        r.problem(e, what + " " + quote(*text) + " is not a listen address: " + why);
        continue;
      }
      if (std::find(listen.begin(), listen.end(), *sa) != listen.end()) {
        r.problem(e, what + " " + quote(*text) + " is listed twice");
        continue;
      }
      listen.push_back(*sa);
    }
    if (a->empty()) r.problem(*a, r.name("listen") + " must list at least one address");
    p.listen = std::move(listen);
  }
  if (const auto* a = r.array("allow_clients")) {
    std::vector<Cidr> allow;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string what = r.name("allow_clients") + "[" + std::to_string(i) + "]";
      auto text = r.string_value(e, what);
      if (!text) continue;
      std::string why;
      auto c = parse_cidr(*text, why);
      if (!c) {
        r.problem(e, what + " " + quote(*text) + " is not a CIDR range: " + why);
        continue;
      }
      allow.push_back(*c);
    }
    // An empty list is allowed and admits nobody: fail closed, never an open relay.
    p.allow_clients = std::move(allow);
  }
  if (const toml::node* n = r.get("hostname")) {
    auto v = r.string_value(*n, r.name("hostname"));
    if (v && !is_host_name(*v)) {
      r.problem(*n, r.name("hostname") +
                        " must be a domain name (letters, digits, '-', '.'), not " + quote(*v));
    } else if (v) {
      p.hostname = *v;
    }
  }
  set_if_as(r.integer("max_message_size", 1, kMaxInt), p.max_message_size);
  set_if_as(r.integer("max_recipients", 1, 1000000), p.max_recipients);
  // RFC 5321 4.5.3.1.6: a text line of 1000 octets (CRLF included) must be accepted.
  set_if_as(r.integer("max_line_length", 1000, 1048576), p.max_line_length);
  if (auto c = r.choice("bare_newlines", {"reject", "normalize"})) {
    p.bare_newlines = *c == 0 ? BareNewlines::Reject : BareNewlines::Normalize;
  }
  p.tls_cert = r.string("tls_cert");
  p.tls_key = r.string("tls_key");
  if (p.tls_cert.has_value() != p.tls_key.has_value()) {
    const char* given = p.tls_cert ? "tls_cert" : "tls_key";
    const char* missing = p.tls_cert ? "tls_key" : "tls_cert";
    r.problem(*r.table().get(given),
              r.name(given) + " needs " + missing + " as well (both or neither)");
  }
  p.user = r.string("user");
  if (const auto* t = r.subtable("timeouts")) {
    TableReader tr(*t, "[proxy.timeouts]", r.problems());
    read_timeouts(tr, p.timeouts);
  }
  set_if_as(r.integer("replay_memory_bytes", 0, kMaxInt), p.replay_memory_bytes);
  set_if_as(r.integer("max_connections", 1, 1000000), p.max_connections);
  set_if_as(r.integer("max_connections_per_client", 1, 1000000), p.max_connections_per_client);
  set_if_as(r.integer("max_connection_rate_per_client", 0, 1000000),
            p.max_connection_rate_per_client);
  if (p.max_connections_per_client > p.max_connections) {
    const toml::node* n = r.table().get("max_connections_per_client");
    if (!n) n = r.table().get("max_connections");
    r.problem(*n, r.name("max_connections_per_client") + " (" +
                      std::to_string(p.max_connections_per_client) +
                      ") must not exceed max_connections (" + std::to_string(p.max_connections) +
                      ")");
  }
  set_if(r.seconds("idle_upstream_s", 0, kDay), p.idle_upstream);
  set_if(r.seconds("reuse_time_limit_s", 0, kDay), p.reuse_time_limit);
  set_if_as(r.integer("pool_size_per_upstream", 0, 10000), p.pool_size_per_upstream);
  r.finish();
}

std::optional<std::string> tls_version(TableReader& r, std::string_view key) {
  const toml::node* n = r.get(key);
  if (!n) return std::nullopt;
  const auto* s = n->as_string();
  if (!s || !is_tls_version(s->get())) {
    r.problem(*n, r.name(key) + " must be " + alternatives({"1.0", "1.1", "1.2", "1.3"}) +
                      ", not " + (s ? quote(s->get()) : type_name(n->type())));
    return std::nullopt;
  }
  return s->get();
}

void read_tls(TableReader& r, TlsSettings& t) {
  set_if(r.string("ca_file"), t.ca_file);
  set_if(tls_version(r, "min_version"), t.min_version);
  set_if(r.boolean("session_resumption"), t.session_resumption);
  r.finish();
}

CompatProfile read_compat(TableReader& r, const std::string& global_min) {
  CompatProfile c;
  c.min_version = tls_version(r, "min_version");
  c.max_version = tls_version(r, "max_version");
  // "1.0" < "1.3" compares correctly as text.
  if (c.max_version && *c.max_version < c.min_version.value_or(global_min)) {
    r.problem(*r.table().get("max_version"), r.name("max_version") + " " + quote(*c.max_version) +
                                                 " is below min_version " +
                                                 quote(c.min_version.value_or(global_min)));
  }
  c.ciphers = r.string("ciphers");
  if (c.ciphers) c.ciphers_at = r.problems().location(r.key_region("ciphers"));
  c.ciphersuites = r.string("ciphersuites");
  c.groups = r.string("groups");
  if (auto l = r.integer("security_level", 0, 5)) c.security_level = static_cast<int>(*l);
  r.finish();
  return c;
}

UpstreamSettings read_upstream(TableReader& r, const std::string& global_min_tls) {
  UpstreamSettings u;
  u.at = r.problems().location(r.table().source());
  auto need = [&](std::string_view key) {
    r.problems().add(r.table().source(),
                     r.context() + " is missing the required key " + quote(key));
  };
  if (const toml::node* n = r.get("name")) {
    auto v = r.string_value(*n, r.name("name"));
    if (v && !is_upstream_name(*v)) {
      r.problem(*n, r.name("name") + " must be 1..64 of letters, digits, '.', '_', '-', not " +
                        quote(*v));
    } else if (v) {
      u.name = *v;
    }
  } else {
    need("name");
  }
  if (const toml::node* n = r.get("host")) {
    auto v = r.string_value(*n, r.name("host"));
    if (v && !is_host_name(*v) && !parse_ip_address(*v)) {
      r.problem(*n, r.name("host") + " must be a domain name or an IP address, not " + quote(*v));
    } else if (v) {
      u.host = *v;
    }
  } else {
    need("host");
  }
  if (auto c = r.choice("tls", {"starttls", "implicit", "none"})) {
    u.tls = std::array{TlsMode::Starttls, TlsMode::Implicit, TlsMode::None}[*c];
  }
  // Like `tlsrelay probe`: 25 unless the mode is implicit TLS, whose port is 465 (RFC 8314).
  u.port = u.tls == TlsMode::Implicit ? 465 : 25;
  set_if_as(r.integer("port", 1, 65535), u.port);
  if (const toml::node* n = r.get("connect")) {
    if (auto v = r.string_value(*n, r.name("connect"))) {
      u.connect = parse_ip_address(*v);
      if (!u.connect) {
        r.problem(*n, r.name("connect") + " must be an IP address, not " + quote(*v));
      }
    }
  }
  if (const toml::node* n = r.get("sni")) {
    auto v = r.string_value(*n, r.name("sni"), /*allow_empty=*/true);
    if (v && !v->empty() && !is_host_name(*v)) {
      r.problem(*n,
                r.name("sni") + " must be a domain name (or \"\" to send none), not " + quote(*v));
    } else if (v) {
      u.sni = *v;
    }
  }
  u.auth_user = r.string("auth_user");
  u.auth_password_file = r.string("auth_password_file");
  u.auth_password_file_at = r.problems().location(r.key_region("auth_password_file"));
  if (auto c = r.choice("auth_mechanism", {"plain", "login", "xoauth2"})) {
    u.auth_mechanism =
        std::array{AuthMechanism::Plain, AuthMechanism::Login, AuthMechanism::Xoauth2}[*c];
  }
  u.oauth_token_file = r.string("oauth_token_file");
  u.oauth_token_file_at = r.problems().location(r.key_region("oauth_token_file"));
  set_if(r.boolean("allow_plaintext"), u.allow_plaintext);
  set_if(r.seconds("timeout_s", 0.001, 3600), u.timeout);
  if (const auto* t = r.subtable("compat")) {
    TableReader cr(*t, "[upstream.compat]", r.problems());
    u.compat = read_compat(cr, global_min_tls);
  }

  // Credentials: exactly one source, and never over a connection without TLS.
  const auto at = [&](std::string_view key) -> const toml::node& { return *r.table().get(key); };
  const bool xoauth2 = u.auth_mechanism == AuthMechanism::Xoauth2;
  if (u.auth_password_file && !u.auth_user) {
    r.problem(at("auth_password_file"), r.name("auth_password_file") + " needs auth_user");
  }
  if (u.oauth_token_file && !xoauth2) {
    r.problem(at("oauth_token_file"),
              r.name("oauth_token_file") + " is only for auth_mechanism = \"xoauth2\"");
  }
  if (u.auth_mechanism && !u.auth_user) {
    r.problem(at("auth_mechanism"), r.name("auth_mechanism") + " needs auth_user");
  }
  if (u.auth_user) {
    if (xoauth2 && !u.oauth_token_file) {
      r.problem(at("auth_mechanism"),
                r.name("auth_mechanism") + " = \"xoauth2\" needs oauth_token_file");
    }
    if (xoauth2 && u.auth_password_file) {
      r.problem(at("auth_password_file"),
                r.name("auth_password_file") +
                    " is not used with auth_mechanism = \"xoauth2\" (use oauth_token_file)");
    }
    if (!xoauth2 && !u.auth_password_file) {
      r.problem(at("auth_user"), r.name("auth_user") + " needs auth_password_file");
    }
    if (u.allow_plaintext) {
      r.problem(at("allow_plaintext"),
                r.name("allow_plaintext") +
                    " = true is not allowed with auth_user: credentials never travel in clear");
    }
    if (u.tls == TlsMode::None) {
      r.problem(at("auth_user"), r.name("auth_user") +
                                     " is not allowed with tls = \"none\": credentials never "
                                     "travel in clear");
    }
  }
  r.finish();
  return u;
}

void read_upstreams(TableReader& top, std::vector<UpstreamSettings>& out,
                    const std::string& global_min_tls) {
  Problems& problems = top.problems();
  const toml::node* n = top.get("upstream");
  if (!n) {
    problems.add(top.table().source(),
                 "no [[upstream]] table: at least one upstream (smarthost) is required");
    return;
  }
  if (n->is_table()) {
    top.problem(*n, "upstream must be written [[upstream]] (an array of tables), not [upstream]");
    return;
  }
  const auto* a = n->as_array();
  if (!a) {
    top.wrong_type("upstream", *n, "an array of tables ([[upstream]])");
    return;
  }
  if (a->empty()) {
    top.problem(*a, "upstream must list at least one upstream (smarthost)");
    return;
  }
  std::map<std::string, SourceLocation> names;
  for (const toml::node& e : *a) {
    const auto* t = e.as_table();
    if (!t) {
      top.problem(e, "each upstream must be a table ([[upstream]]), not " + type_name(e.type()));
      continue;
    }
    TableReader r(*t, "[[upstream]]", problems);
    UpstreamSettings u = read_upstream(r, global_min_tls);
    if (!u.name.empty()) {
      const toml::node& name_node = *t->get("name");
      auto [it, fresh] = names.emplace(u.name, problems.location(name_node.source()));
      if (!fresh) {
        top.problem(name_node, "[[upstream]] name " + quote(u.name) + " is already used (line " +
                                   std::to_string(it->second.line) + ")");
      }
    }
    out.push_back(std::move(u));
  }
}

std::vector<std::string> rule_keys() {
  std::vector<std::string> keys{"default"};
  for (auto* c = all_classes_begin(); c != all_classes_end(); ++c) {
    if (c->id == FailureClass::Ok) continue;
    keys.emplace_back(c->name);
    const std::string group(to_string(c->group));
    if (std::find(keys.begin(), keys.end(), group) == keys.end()) keys.emplace_back(group);
  }
  return keys;
}

void read_rules(const toml::table& t, Problems& problems,
                std::map<std::string, std::vector<Action>, std::less<>>& rules) {
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    const auto cls = class_from_string(key);
    const bool ok_key = key == "default" || is_group_name(key) || (cls && *cls != FailureClass::Ok);
    if (!ok_key) {
      problems.add(k.source(), "[policy.rules] " + quote(key) +
                                   " is not a failure class, a group or \"default\"" +
                                   suggestion(key, rule_keys()));
      continue;
    }
    const std::string what = "[policy.rules] " + quote(key);
    const auto* a = v.as_array();
    if (!a) {
      problems.add(v.source(), what + " must be an array of actions, not " + type_name(v.type()));
      continue;
    }
    if (a->empty()) {
      problems.add(a->source(), what + " must list at least one action");
      continue;
    }
    std::vector<Action> actions;
    bool good = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      if (!s) {
        problems.add(e.source(), what + ": actions must be strings, not " + type_name(e.type()));
        good = false;
        continue;
      }
      std::string why;
      auto action = parse_action(s->get(), why);
      if (!action) {
        problems.add(e.source(), what + ": " + quote(s->get()) + " is not an action: " + why);
        good = false;
        continue;
      }
      // defer and reject answer the client: nothing after them could ever run.
      const bool final = action->kind == ActionKind::Defer || action->kind == ActionKind::Reject;
      if (final && i + 1 != a->size()) {
        problems.add(e.source(), what + ": " + quote(s->get()) + " must be the last action");
        good = false;
      }
      actions.push_back(*action);
    }
    if (good) rules[key] = std::move(actions);
  }
}

void read_policy(TableReader& r, PolicySettings& p) {
  set_if(r.seconds("deadline_s", 0.001, kDay), p.deadline);
  set_if(r.seconds("hold_down_s", 0, kDay), p.hold_down);
  if (const auto* a = r.array("backoff_s")) {
    std::vector<Duration> backoff;
    for (std::size_t i = 0; i < a->size(); ++i) {
      auto d =
          r.seconds_value(*a->get(i), r.name("backoff_s") + "[" + std::to_string(i) + "]", 0, 3600);
      if (d) backoff.push_back(*d);
    }
    p.backoff = std::move(backoff);
  }
  if (const auto* t = r.subtable("rules")) read_rules(*t, r.problems(), p.rules);
  r.finish();
}

// libmilter's socket syntax (smfi_setconn); "" when `s` is one, else why not.
std::string milter_socket_problem(std::string_view s) {
  const auto colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  if (colon == std::string_view::npos) {
    return "must start with \"unix:\", \"local:\", \"inet:\" or \"inet6:\"";
  }
  const std::string_view rest = s.substr(colon + 1);
  if (kind == "unix" || kind == "local") {
    if (rest.empty() || rest.front() != '/')
      return "needs an absolute path after \"" + std::string(kind) + ":\"";
    return "";
  }
  if (kind != "inet" && kind != "inet6") {
    return "must start with \"unix:\", \"local:\", \"inet:\" or \"inet6:\"";
  }
  const auto at = rest.find('@');
  const std::string_view port = rest.substr(0, at);
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    // Postfix writes "inet:HOST:PORT" in smtpd_milters; libmilter wants "inet:PORT@HOST".
    const auto last = rest.rfind(':');
    if (at == std::string_view::npos && last != std::string_view::npos) {
      return "is written PORT@HOST here (libmilter), e.g. \"" + std::string(kind) + ":" +
             std::string(rest.substr(last + 1)) + "@" + std::string(rest.substr(0, last)) +
             "\"; Postfix's smtpd_milters writes " + std::string(kind) + ":HOST:PORT";
    }
    return "needs a port from 1 to 65535 after \"" + std::string(kind) + ":\"";
  }
  if (at != std::string_view::npos) {
    const std::string_view host = rest.substr(at + 1);
    if (!is_host_name(host) && !parse_ip_address(host)) {
      return "has a host that is neither an IP address nor a domain name";
    }
  }
  return "";
}

// "http://HOST[:PORT][/PATH]" into m's status_* fields; "" or why not.
std::string parse_status_url(std::string_view url, MilterSettings& m) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return "must be http:// (the status endpoint is local; https is not supported)";
  }
  if (url.rfind(scheme, 0) != 0) return "must start with \"http://\"";
  std::string_view rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  m.status_target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (m.status_target.find_first_of(" #") != std::string::npos) {
    return "must not contain spaces or a fragment";
  }
  if (authority.find('@') != std::string_view::npos) return "must not contain user information";
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "has an IPv6 address without ']'";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "needs ':' after ']'";
      port = authority.substr(close + 2);
      if (port.empty()) return "has an empty port";
    }
    if (!parse_ip_address(host)) return "has an invalid IPv6 address";
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return "has an empty port";
    }
    if (!is_host_name(host) && !parse_ip_address(host)) {
      return "needs a host: an IP address or a domain name";
    }
  }
  if (!port.empty()) {
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                          return c >= '0' && c <= '9';
                        });
    const int n = digits ? std::stoi(std::string(port)) : 0;
    if (n < 1 || n > 65535) return "needs a port from 1 to 65535";
    m.status_port = static_cast<std::uint16_t>(n);
  }
  m.status_host = std::string(host);
  return "";
}

void read_milter(TableReader& r, MilterSettings& m) {
  m.at = r.problems().location(r.table().source());
  if (const toml::node* n = r.get("socket")) {
    if (auto v = r.string_value(*n, r.name("socket"))) {
      const std::string why = milter_socket_problem(*v);
      if (why.empty()) {
        m.socket = *v;
      } else {
        r.problem(*n, r.name("socket") + " " + quote(*v) + " " + why);
      }
    }
  }
  if (const toml::node* n = r.get("status_url")) {
    if (auto v = r.string_value(*n, r.name("status_url"))) {
      const std::string why = parse_status_url(*v, m);
      if (why.empty()) {
        m.status_url = *v;
      } else {
        r.problem(*n, r.name("status_url") + " " + quote(*v) + " " + why);
      }
    }
  }
  if (auto c = r.choice("policy", {"accept", "tempfail", "hold"})) {
    m.policy = std::array{MilterPolicy::Accept, MilterPolicy::Tempfail, MilterPolicy::Hold}[*c];
  }
  if (const auto* a = r.array("failing_states")) {
    bool failing = false;
    bool degraded = false;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      const std::string what = r.name("failing_states") + "[" + std::to_string(i) + "]";
      if (s && s->get() == "failing") {
        failing = true;
      } else if (s && s->get() == "degraded") {
        degraded = true;
      } else {
        r.problem(e, what + " must be " + alternatives({"failing", "degraded"}) + ", not " +
                         (s ? quote(s->get()) : type_name(e.type())));
      }
    }
    // A route whose every upstream fails is the case the policy exists for; leaving it
    // out would make the policy apply to the milder state only.
    if (!failing) {
      r.problem(*a, r.name("failing_states") + " must include \"failing\"");
    }
    m.degraded_is_failing = degraded;
  }
  // One /status answer serves every message for `cache_s`: never a request per message.
  set_if(r.seconds("cache_s", 0.1, 60), m.cache);
  set_if(r.seconds("timeout_s", 0.01, 10), m.timeout);
  set_if(r.boolean("route_header"), m.route_header);
  set_if(r.boolean("inbound_header"), m.inbound_header);
  r.finish();
}

void read_allowed_hosts(TableReader& r, std::vector<std::string>& out) {
  const auto* a = r.array("allowed_hosts");
  if (!a) return;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string what = r.name("allowed_hosts") + "[" + std::to_string(i) + "]";
    auto text = r.string_value(e, what);
    if (!text) continue;
    if (!is_host_name(*text) && !parse_ip_address(*text)) {
      const bool port = text->find(':') != std::string::npos;
      r.problem(e, what + " " + quote(*text) + " must be a host name or an IP address" +
                       (port ? " without a port (and an IPv6 address without brackets)" : ""));
      continue;
    }
    out.push_back(*text);
  }
}

bool same_host_name(std::string_view a, std::string_view b) {
  if (!a.empty() && a.back() == '.') a.remove_suffix(1);
  if (!b.empty() && b.back() == '.') b.remove_suffix(1);
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The milter reads the relay's /status with the URL's host in Host; a name the relay does
// not take as its own would be refused (proxy/status/http_host.hpp) and the milter would fail open
// for every message. Only when this file also configures the relay's HTTP server.
void check_status_host(TableReader& r, const MilterSettings& m, const HttpSettings& http) {
  if (!http.listen || !m.status_url || parse_ip_address(m.status_host)) return;
  if (same_host_name(m.status_host, "localhost")) return;
  for (const auto& h : http.allowed_hosts) {
    if (same_host_name(m.status_host, h)) return;
  }
  if (const toml::node* n = r.table().get("status_url")) {
    r.problem(*n, r.name("status_url") + " names the host " + quote(m.status_host) +
                      ", which the relay does not answer: add it to [http] allowed_hosts, or use "
                      "the [http] listen address or localhost");
  }
}

template <typename Fn>
void section(TableReader& top, std::string_view key, std::string context, Fn&& fn) {
  if (const auto* t = top.subtable(key)) {
    TableReader r(*t, std::move(context), top.problems());
    fn(r);
  }
}

}  // namespace

Settings parse_settings(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(source_name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                      ": invalid TOML: " + std::string(e.description()));
  }
  Problems problems(source_name);
  Settings s;
  s.source = source_name;
  s.proxy.hostname = this_host_name();
  TableReader top(root, "", problems);
  section(top, "proxy", "[proxy]", [&](TableReader& r) { read_proxy(r, s.proxy); });
  section(top, "tls", "[tls]", [&](TableReader& r) { read_tls(r, s.tls); });
  read_upstreams(top, s.upstreams, s.tls.min_version);
  section(top, "policy", "[policy]", [&](TableReader& r) { read_policy(r, s.policy); });
  section(top, "headers", "[headers]", [&](TableReader& r) {
    set_if(r.boolean("enabled"), s.headers.enabled);
    r.finish();
  });
  section(top, "log", "[log]", [&](TableReader& r) {
    s.log.events = r.string("events");
    r.finish();
  });
  section(top, "http", "[http]", [&](TableReader& r) {
    set_if(r.boolean("address_labels"), s.http.address_labels);
    if (auto v = r.string("listen")) {
      std::string why;
      s.http.listen = parse_socket_address(*v, why);
      if (!s.http.listen) {
        r.problem(*r.table().get("listen"),
                  r.name("listen") + " " + quote(*v) + " is not a listen address: " + why);
      }
    }
    read_allowed_hosts(r, s.http.allowed_hosts);
    r.finish();
  });
  section(top, "milter", "[milter]", [&](TableReader& r) {
    s.milter.emplace();
    read_milter(r, *s.milter);
    check_status_host(r, *s.milter, s.http);
  });
  top.finish();
  problems.throw_if_any();
  return s;
}

Settings load_settings(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the configuration: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw ConfigError(path + ": cannot read the configuration: " + std::strerror(errno));
  }
  return parse_settings(text.str(), path);
}

}  // namespace tlsrelay::config

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
#include "config/loader_sections.hpp"
#include "config/policy_rules.hpp"
#include "config/toml_reader.hpp"

namespace tlsrelay::config {
namespace {

using namespace detail;

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------
// The sections

void read_timeouts(TableReader& r, ProxyTimeouts& t) {
  set_if(r.seconds("command_s", 0.001, kDay), t.command);
  set_if(r.seconds("data_block_s", 0.001, kDay), t.data_block);
  set_if(r.seconds("data_done_s", 0.001, kDay), t.data_done);
  r.finish();
}

// Long on purpose: the [proxy] keys one after another, in the order of
// docs/configuration.md's table, each with its range.
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
  set_if_as(r.integer("threads", 1, 256), p.threads);
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
  if (auto v = r.string("ca_file")) {
    t.ca_file = *v;
    t.ca_file_at = r.problems().location(r.table().get("ca_file")->source());
  }
  set_if(tls_version(r, "min_version"), t.min_version);
  set_if(r.boolean("session_resumption"), t.session_resumption);
  r.finish();
}

CompatProfile read_compat(TableReader& r, const std::string& global_min) {
  CompatProfile c;
  c.at = r.problems().location(r.table().source());
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

// Credentials: exactly one source, and never over a connection without TLS.
void check_credentials(TableReader& r, const UpstreamSettings& u) {
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

  check_credentials(r, u);
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
  section(top, "health", "[health]", [&](TableReader& r) {
    read_health(r, s.health);
    read_health_recurrence(r, s.health_recurrence);
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

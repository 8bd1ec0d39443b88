#include "config/policy_rules.hpp"

#include <array>
#include <utility>

namespace tlsrelay::config {
namespace {

// The names of [policy.rules] actions; a new action is one line here (the size follows).
struct ActionName {
  std::string_view name;
  ActionKind kind;
};
constexpr ActionName kActionNames[] = {
    {"retry", ActionKind::Retry},
    {"next-address", ActionKind::NextAddress},
    {"next-upstream", ActionKind::NextUpstream},
    {"compat", ActionKind::Compat},
    {"plaintext", ActionKind::Plaintext},
    {"defer", ActionKind::Defer},
    {"reject", ActionKind::Reject},
};

std::string_view name_of(ActionKind k) {
  for (const auto& [name, kind] : kActionNames) {
    if (kind == k) return name;
  }
  return "?";
}

RuleTable make_builtin_rules() {
  using enum ActionKind;
  const std::vector<Action> move_on = {{NextUpstream}, {Defer}};
  RuleTable t;
  // A network failure is often momentary (a reset, a lost SYN): one more try at the same
  // address, then the upstream's other addresses, before giving up on the upstream.
  t["network"] = {{Retry, 1}, {NextAddress}, {NextUpstream}, {Defer}};
  // A SYN that went unanswered or an unreachable route will not answer a second later:
  // move to the next address at once (a broken IPv6 path must not eat the deadline).
  t["connect-timeout"] = {{NextAddress}, {NextUpstream}, {Defer}};
  t["network-unreachable"] = {{NextAddress}, {NextUpstream}, {Defer}};
  // Every address of an upstream shares its DNS answer, so there is no next address.
  t["dns"] = move_on;
  // Protocol, TLS, certificate, credential and local failures repeat identically on a
  // retry; another upstream may still work, else the MTA keeps the message queued.
  for (const char* g : {"smtp", "starttls", "tls", "certificate", "auth", "local"}) t[g] = move_on;
  // Bytes injected before the TLS handshake mean someone on the path is tampering
  // (RFC 3207 5, CVE-2011-0411 class): never retry into the same path. Named on its own so
  // that a relaxed "starttls" group rule does not reach it.
  t["starttls-injection"] = move_on;
  t["default"] = move_on;
  return t;
}

const std::vector<Action>* find(const RuleTable& t, std::string_view key) {
  auto it = t.find(key);
  return it == t.end() ? nullptr : &it->second;
}

}  // namespace

std::optional<Action> parse_action(std::string_view text, std::string& why) {
  std::string_view name = text, count;
  const auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    name = text.substr(0, colon);
    count = text.substr(colon + 1);
  }
  for (const auto& [n, kind] : kActionNames) {
    if (n != name) continue;
    Action a{kind, 1};
    if (colon == std::string_view::npos) return a;
    if (kind != ActionKind::Retry) {
      why = "only retry takes a count (retry:N)";
      return std::nullopt;
    }
    int v = 0;
    bool digits = !count.empty() && count.size() <= 2;
    for (char c : count) {
      if (c < '0' || c > '9') digits = false;
      if (digits) v = v * 10 + (c - '0');
    }
    if (!digits || v < 1 || v > kMaxRetryCount) {
      why = "retry:N needs N from 1 to " + std::to_string(kMaxRetryCount);
      return std::nullopt;
    }
    a.count = v;
    return a;
  }
  why =
      "expected one of retry, retry:N, next-address, next-upstream, compat, plaintext, defer, "
      "reject";
  return std::nullopt;
}

std::string to_string(const Action& a) {
  std::string s(name_of(a.kind));
  if (a.kind == ActionKind::Retry) s += ":" + std::to_string(a.count);
  return s;
}

std::string to_string(const std::vector<Action>& actions) {
  std::string s;
  for (const auto& a : actions) {
    if (!s.empty()) s += ", ";
    s += to_string(a);
  }
  return s;
}

const RuleTable& builtin_rules() {
  static const RuleTable table = make_builtin_rules();
  return table;
}

EffectiveRule effective_rule(const PolicySettings& policy, std::string_view class_id,
                             std::string_view group) {
  // The file's entry for a key replaces the built-in one; the most specific key wins.
  for (std::string_view key : {class_id, group, std::string_view("default")}) {
    if (key.empty()) continue;
    if (const auto* mine = find(policy.rules, key)) return {*mine, std::string(key), false};
    if (const auto* builtin = find(builtin_rules(), key)) {
      return {*builtin, std::string(key), true};
    }
  }
  // Unreachable while builtin_rules() has "default"; fail safe all the same.
  return {{Action{ActionKind::Defer, 1}}, "default", true};
}

}  // namespace tlsrelay::config

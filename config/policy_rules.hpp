// The policy language of [policy.rules]: parsing one action, and deciding which rule
// applies to a failure class. The relay and `check-config --explain` both call
// effective_rule(), so what --explain prints is what the relay does.
//
// Resolution: the built-in table (docs/configuration.md) is the starting point and each
// key the file writes replaces the built-in entry of that key; then a class's own key
// beats its group's key, which beats "default". Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"

namespace tlsrelay::config {

constexpr int kMaxRetryCount = 10;

// "retry", "retry:N" (N 1..10), "next-address", "next-upstream", "compat", "plaintext",
// "defer", "reject". On failure returns nullopt and sets `why` to what was expected.
std::optional<Action> parse_action(std::string_view text, std::string& why);
std::string to_string(const Action& a);                     // "retry:2", "defer"
std::string to_string(const std::vector<Action>& actions);  // "retry:1, next-address, defer"

using RuleTable = std::map<std::string, std::vector<Action>, std::less<>>;
// The rules that apply where the file has none.
const RuleTable& builtin_rules();

struct EffectiveRule {
  std::vector<Action> actions;
  std::string source;    // the key that matched: a class id, a group name or "default"
  bool builtin = false;  // from builtin_rules(), not from the file
};

// `class_id` and `group` as in tls/failure_class.hpp ("certificate-expired", "certificate").
EffectiveRule effective_rule(const PolicySettings& policy, std::string_view class_id,
                             std::string_view group);

}  // namespace tlsrelay::config

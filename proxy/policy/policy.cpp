#include "proxy/policy/policy.hpp"

#include <algorithm>

#include "common/text.hpp"
#include "config/policy_rules.hpp"
#include "proxy/policy/replies.hpp"

namespace tlsrelay::proxy {

bool carries_requiretls(const tls::AttemptFacts& upstream, bool offers_requiretls,
                        bool normal_profile) {
  const std::string& v = upstream.tls.version;
  return offers_requiretls && normal_profile && upstream.certificate.verified &&
         (v == "TLSv1.2" || v == "TLSv1.3");
}

bool replay_allowed(const config::PolicySettings& policy, FailureClass lost) {
  const auto& ci = info(lost);
  for (const config::Action& a :
       config::effective_rule(policy, ci.name, to_string(ci.group)).actions) {
    using K = config::ActionKind;
    if (a.kind == K::Retry || a.kind == K::NextAddress || a.kind == K::NextUpstream) return true;
  }
  return false;
}

// ---- the route's next step after a failed attempt --------------------------------------

std::string to_string(const RouteStep& step) {
  switch (step.kind) {
    case StepKind::Retry:
      return "retry:" + std::to_string(step.retry);
    case StepKind::NextAddress:
      return "next-address";
    case StepKind::NextUpstream:
      return "next-upstream";
    case StepKind::Compat:
      return "compat";
    case StepKind::Plaintext:
      return "plaintext";
    case StepKind::Defer:
      return "defer";
    case StepKind::Reject:
      return "reject";
  }
  return "?";
}

bool moves_on(StepKind kind) {
  return kind != StepKind::Defer && kind != StepKind::Reject;
}

RouteStep next_step(const std::vector<config::Action>& rule, const RouteCursor& at,
                    const UpstreamTraits& upstream, const MessageNeeds& message,
                    bool deadline_spent) {
  // interfaces.md: "When the deadline is spent the answer is defer" — even under a reject rule.
  if (deadline_spent) return {StepKind::Defer};
  for (const config::Action& a : rule) {
    using K = config::ActionKind;
    switch (a.kind) {
      case K::Retry:
        if (at.retries < a.count) return {StepKind::Retry, at.retries + 1};
        break;
      case K::NextAddress:
        if (at.address + 1 < at.addresses) return {StepKind::NextAddress};
        break;
      case K::NextUpstream:
        if (at.upstream + 1 < at.upstreams) return {StepKind::NextUpstream};
        break;
      case K::Compat:
        // Never for a message that requires TLS (RFC 8689): compat lowers the profile,
        // down to security level 0 where weak keys and ciphers pass verification.
        if (upstream.has_compat && !at.compat && !message.require_tls) return {StepKind::Compat};
        break;
      case K::Plaintext:
        // Never a silent downgrade: only where the upstream allows it, without credentials
        // (they never travel in clear), and never for a message that requires TLS.
        if (upstream.allow_plaintext && !upstream.has_credentials && !message.require_tls &&
            !at.plaintext && upstream.tls_mode != TlsMode::None) {
          return {StepKind::Plaintext};
        }
        break;
      case K::Defer:
        return {StepKind::Defer};
      case K::Reject:
        return {StepKind::Reject};
    }
  }
  // docs/configuration.md: "When the actions run out without defer or reject, the answer is
  // defer."
  return {StepKind::Defer};
}

RouteStep next_step(const config::PolicySettings& policy, FailureClass failed,
                    const RouteCursor& at, const UpstreamTraits& upstream,
                    const MessageNeeds& message, bool deadline_spent) {
  const auto& ci = info(failed);
  return next_step(config::effective_rule(policy, ci.name, to_string(ci.group)).actions, at,
                   upstream, message, deadline_spent);
}

RouteCursor advance(const RouteCursor& at, const RouteStep& step) {
  RouteCursor next = at;
  switch (step.kind) {
    case StepKind::Retry:
      next.retries = step.retry;
      break;
    case StepKind::NextAddress:
      ++next.address;
      next.retries = 0;
      break;
    case StepKind::NextUpstream:
      next = RouteCursor{};
      next.upstream = at.upstream + 1;
      next.upstreams = at.upstreams;
      break;
    case StepKind::Compat:
      next.compat = true;
      next.retries = 0;
      break;
    case StepKind::Plaintext:
      next.plaintext = true;
      next.retries = 0;
      break;
    case StepKind::Defer:
    case StepKind::Reject:
      break;
  }
  return next;
}

config::Duration backoff_base(const config::PolicySettings& policy, int retry) {
  if (policy.backoff.empty()) return config::Duration::zero();
  const auto nth = static_cast<std::size_t>(std::max(retry, 1) - 1);
  return policy.backoff[std::min(nth, policy.backoff.size() - 1)];
}

Reply route_failure_reply(const std::vector<FailedAttempt>& failures, int upstreams_tried,
                          StepKind ending, std::string_view txn) {
  if (failures.empty()) return no_upstream_reply();
  Reply deferral = deferral_reply(failures, upstreams_tried, txn);
  // The rule that rejected is the last failure's.
  return ending == StepKind::Reject ? rejection_reply(deferral, failures.back().verdict) : deferral;
}

}  // namespace tlsrelay::proxy

// ---- replaying a transaction whose upstream was lost -----------------------------------

namespace tlsrelay::proxy {

std::string_view to_string(ReplayBar b) {
  switch (b) {
    case ReplayBar::None:
      return "";
    case ReplayBar::ReplayedAlready:
      return "replayed once already";
    case ReplayBar::PolicyDefers:
      return "the policy defers this class";
    case ReplayBar::NoReplayBuffer:
      return "no replay buffer";
    case ReplayBar::DeadlineSpent:
      return "the policy deadline is spent";
  }
  return "?";
}

ReplayBar replay_bar(const config::PolicySettings& policy, const LostTransaction& t) {
  if (t.replays >= kMaxReplays) return ReplayBar::ReplayedAlready;
  if (!replay_allowed(policy, t.lost)) return ReplayBar::PolicyDefers;
  // The data sent so far must go to the new upstream whole, or not at all.
  if (t.in_data && !t.buffer_usable) return ReplayBar::NoReplayBuffer;
  if (t.now + kMinReplayTime > t.deadline) return ReplayBar::DeadlineSpent;
  return ReplayBar::None;
}

}  // namespace tlsrelay::proxy

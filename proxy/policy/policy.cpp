#include "proxy/policy/policy.hpp"

#include "common/text.hpp"
#include "config/policy_rules.hpp"

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

}  // namespace tlsrelay::proxy

// ---- replaying a transaction whose upstream was lost (issue 18) ------------------------

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

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

#include "proxy/policy/policy.hpp"

#include "common/text.hpp"
#include "config/policy_rules.hpp"

namespace tlsrelay::proxy {

namespace {

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its code and CRLF.
constexpr std::size_t kMaxReplyText = 480;

}  // namespace

std::string deferral_enhanced_code(FailureClass c) {
  const auto& ci = info(c);
  switch (c) {
    case FailureClass::ConnectionReset:
    case FailureClass::ConnectionClosed:
      return "4.4.2";
    case FailureClass::LocalConfig:
      return "4.3.5";
    default:
      break;
  }
  if (ci.group == "dns") return "4.4.3";
  if (ci.group == "network") return "4.4.1";
  if (ci.group == "tls" || ci.group == "certificate") return "4.7.5";
  if (ci.group == "starttls" || ci.group == "auth") return "4.7.0";
  return "4.4.0";
}

Reply deferral_reply(const tls::AttemptFacts& last, const tls::Verdict& v, int attempts,
                     int upstreams) {
  const auto& u = last.upstream;
  std::string where = u.host;
  if (!last.network.address.empty()) where += "[" + last.network.address + "]";
  where += ":" + std::to_string(u.port);
  std::string text = "tlsrelay: " + u.name + " " + where + " " + std::string(to_string(v.cls)) +
                     ": " + v.hint + "; tried " + std::to_string(attempts) +
                     (attempts == 1 ? " time" : " times") + " over " + std::to_string(upstreams) +
                     (upstreams == 1 ? " upstream" : " upstreams");
  return make_reply(451, deferral_enhanced_code(v.cls), printable(text, kMaxReplyText));
}

Reply rejection_reply(const Reply& deferral, const tls::Verdict& verdict) {
  const auto& group = info(verdict.cls).group;
  const std::string enhanced = (group == "tls" || group == "certificate") ? "5.7.5" : "5.7.0";
  std::string text = deferral.lines.empty() ? std::string() : deferral.lines.front();
  text = text.substr(std::min(text.size(), deferral.enhanced.size() + 1));
  return make_reply(554, enhanced, text);
}

bool carries_requiretls(const tls::AttemptFacts& upstream, bool offers_requiretls,
                        bool normal_profile) {
  const std::string& v = upstream.tls.version;
  return offers_requiretls && normal_profile && upstream.certificate.verified &&
         (v == "TLSv1.2" || v == "TLSv1.3");
}

Reply requiretls_reply(const std::string& upstream) {
  return make_reply(550, "5.7.30",
                    "REQUIRETLS support required (tlsrelay: " + upstream +
                        " does not offer REQUIRETLS with verified TLS)");
}

Reply extension_missing_reply(const std::string& upstream, const std::string& extension) {
  const bool utf8 = extension == "SMTPUTF8";
  return make_reply(
      utf8 ? 553 : 554, utf8 ? "5.6.7" : "5.6.3",
      "tlsrelay: " + upstream + " does not support " + extension + ", which this message needs");
}

// Like every deferral, it names the class (interfaces.md), so the MTA's queue says why.
Reply lost_upstream_reply(const std::string& upstream, const std::string& stage,
                          FailureClass lost) {
  const bool timeout = lost == FailureClass::Timeout;
  std::string what = timeout ? "no reply in time to " + stage
                     : lost == FailureClass::ConnectionReset
                         ? "the connection was reset during " + stage
                         : "the connection was closed during " + stage;
  // RFC 1047: after the final dot went out, only the reply was lost.
  what += stage == "end of DATA" ? "; the message may have been delivered, a duplicate is possible"
                                 : "; the message was not delivered, retry later";
  return make_reply(451, timeout ? "4.4.1" : "4.4.2",
                    "tlsrelay: " + upstream + " " + std::string(to_string(lost)) + ": " + what);
}

bool replay_allowed(const config::PolicySettings& policy, FailureClass lost) {
  const auto& ci = info(lost);
  for (const config::Action& a : config::effective_rule(policy, ci.name, ci.group).actions) {
    using K = config::ActionKind;
    if (a.kind == K::Retry || a.kind == K::NextAddress || a.kind == K::NextUpstream) return true;
  }
  return false;
}

Reply replay_failed_reply(const Reply& lost, const std::string& why) {
  std::string text = lost.lines.empty() ? std::string() : lost.lines.front();
  text = text.substr(std::min(text.size(), lost.enhanced.size() + 1));
  return make_reply(lost.code, lost.enhanced, text + "; replay: " + printable(why, 200));
}

Reply unexpected_reply(const std::string& upstream, const std::string& stage, const Reply& got) {
  return make_reply(451, "4.5.0",
                    "tlsrelay: " + upstream + " answered " + stage + " with \"" +
                        printable(got.first_line(), 120) + "\"");
}

}  // namespace tlsrelay::proxy

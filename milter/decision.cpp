#include "milter/decision.hpp"

#include "milter/header_text.hpp"

namespace tlsrelay::milter {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::Accept:
      return "accept";
    case Verdict::Tempfail:
      return "tempfail";
    case Verdict::Hold:
      return "hold";
  }
  return "accept";
}

namespace {

constexpr std::size_t kMacroMax = 200;      // bytes kept of one MTA macro value
constexpr std::size_t kReplyHintMax = 200;  // bytes of the hint in a reply or a reason

void add_param(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += "; ";
  out += key;
  out += '=';
  out += param_value(value);
}

// "upstream primary is failing (certificate-expired: <hint>)"
std::string route_phrase(const RouteStatus& r) {
  std::string s = "upstream " + (r.upstream.empty() ? std::string("?") : r.upstream) + " is " +
                  std::string(to_string(r.state));
  if (r.failure_class) {
    s += " (" + *r.failure_class;
    if (r.hint) s += ": " + printable(*r.hint, kReplyHintMax);
    s += ")";
  }
  return s;
}

Decision tempfail(std::string text, std::string why) {
  Decision d;
  d.verdict = Verdict::Tempfail;
  // 4.7.5: TLS/certificate, as the relay itself answers (interfaces.md, "Replies").
  d.reply_code = "451";
  d.reply_xcode = "4.7.5";
  d.reply_text = reply_text(text);
  d.why = std::move(why);
  return d;
}

}  // namespace

std::string route_field_value(const RouteStatus& route) {
  std::string v;
  add_param(v, "upstream", route.upstream.empty() ? "unknown" : route.upstream);
  add_param(v, "state", to_string(route.state));
  if (route.failure_class) add_param(v, "class", *route.failure_class);
  if (route.since) add_param(v, "since", *route.since);
  if (route.state != RouteState::Healthy && route.hint) {
    add_param(v, "hint", printable(*route.hint, kMaxHint));
  }
  return v;
}

std::string inbound_field_value(const InboundFacts& in) {
  std::string v;
  if (in.tls_version.empty() && in.cipher.empty()) {
    add_param(v, "tls", "none");
  } else {
    add_param(v, "tls", in.tls_version.empty() ? "unknown" : printable(in.tls_version, kMacroMax));
    if (!in.cipher.empty()) add_param(v, "cipher", printable(in.cipher, kMacroMax));
    if (!in.cipher_bits.empty()) add_param(v, "bits", printable(in.cipher_bits, kMacroMax));
    if (!in.cert_subject.empty()) {
      add_param(v, "cert-subject", printable(in.cert_subject, kMacroMax));
    }
    if (!in.cert_issuer.empty()) {
      add_param(v, "cert-issuer", printable(in.cert_issuer, kMacroMax));
    }
  }
  if (!in.auth_authen.empty()) add_param(v, "auth", printable(in.auth_authen, kMacroMax));
  return v;
}

Decision decide(const StatusReading& status, const MessageFacts& facts,
                const config::MilterSettings& settings) {
  auto add_fields = [&](Decision& d, const RouteStatus* route) {
    if (route && settings.route_header) {
      d.headers.push_back(HeaderField{std::string(kRouteField),
                                      fold_header_value(kRouteField, route_field_value(*route))});
    }
    if (settings.inbound_header) {
      d.headers.push_back(
          HeaderField{std::string(kInboundField),
                      fold_header_value(kInboundField, inbound_field_value(facts.inbound))});
    }
  };

  if (!status.route) {
    // Fail open: an unreachable relay says nothing about the route, so the message goes on
    // (the relay, when it is back, still diagnoses and defers); no route field, since any
    // value in it would be a guess.
    Decision d;
    d.fail_open = true;
    d.why = "status-unavailable";
    add_fields(d, nullptr);
    return d;
  }
  const RouteStatus& route = *status.route;
  const bool failing = route.state == RouteState::Failing ||
                       (settings.degraded_is_failing && route.state == RouteState::Degraded);
  const bool no_verified_tls =
      route.state == RouteState::Failing || route.verified_tls == std::optional<bool>(false);

  if (requires_tls(facts) && no_verified_tls) {
    // RFC 8689: the message must not travel without verified TLS; accepting it now would
    // queue it towards a dead end. A 4xx keeps it at the sender, who retries.
    return tempfail(
        "tlsrelay: REQUIRETLS message not accepted now: the route cannot give verified "
        "TLS, " +
            route_phrase(route) +
            (route.verified_tls == std::optional<bool>(false) && route.state != RouteState::Failing
                 ? ", last delivery without verified TLS"
                 : "") +
            "; try again later",
        "requiretls");
  }
  if (failing && settings.policy == config::MilterPolicy::Tempfail) {
    return tempfail("tlsrelay: " + route_phrase(route) + "; try again later", "route-failing");
  }
  Decision d;
  if (failing && settings.policy == config::MilterPolicy::Hold) {
    d.verdict = Verdict::Hold;
    d.quarantine_reason = printable("tlsrelay: " + route_phrase(route), 400);
    d.why = "route-failing";
  } else {
    d.why = failing ? "route-failing" : "route-" + std::string(to_string(route.state));
  }
  add_fields(d, &route);
  return d;
}

}  // namespace tlsrelay::milter

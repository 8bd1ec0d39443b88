#include "smtp_behaviour.hpp"

#include "raw_tls.hpp"

#include <charconv>

namespace tlsrelay::testpeer {

namespace {

struct Named {
  std::string_view name;
  Behaviour kind;
};

constexpr Named kNames[] = {
    {"normal", Behaviour::Normal},
    {"no-starttls", Behaviour::NoStarttls},
    {"starttls-masked", Behaviour::StarttlsMasked},
    {"starttls-454", Behaviour::Starttls454},
    {"starttls-injection", Behaviour::StarttlsInjection},
    {"banner-554", Behaviour::Banner554},
    {"banner-421", Behaviour::Banner421},
    {"banner-ssh", Behaviour::BannerSsh},
    {"banner-http", Behaviour::BannerHttp},
    {"silent", Behaviour::Silent},
    {"ehlo-reject", Behaviour::EhloReject},
    {"ehlo-endless", Behaviour::EhloEndless},
    {"banner-endless-line", Behaviour::BannerEndlessLine},
    {"rst-after-clienthello", Behaviour::RstAfterClientHello},
    {"eof-after-clienthello", Behaviour::EofAfterClientHello},
    {"stall-after-clienthello", Behaviour::StallAfterClientHello},
    {"partial-flight", Behaviour::PartialFlight},
    {"alert", Behaviour::Alert},
    {"auth-fail", Behaviour::AuthFail},
    {"no-auth-after-tls", Behaviour::NoAuthAfterTls},
};

}  // namespace

std::optional<BehaviourSpec> parse_behaviour(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const std::string_view arg =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  for (const auto& named : kNames) {
    if (named.name != name) continue;
    BehaviourSpec spec;
    spec.kind = named.kind;
    if (named.kind == Behaviour::PartialFlight) {
      const auto [end, ec] =
          std::from_chars(arg.data(), arg.data() + arg.size(), spec.flight_bytes);
      if (arg.empty() || ec != std::errc() || end != arg.data() + arg.size()) return std::nullopt;
    } else if (named.kind == Behaviour::Alert) {
      const auto alert = parse_alert(arg);
      if (!alert) return std::nullopt;
      spec.alert = *alert;
    } else if (colon != std::string_view::npos) {
      return std::nullopt;
    }
    return spec;
  }
  return std::nullopt;
}

std::string to_string(const BehaviourSpec& spec) {
  for (const auto& named : kNames) {
    if (named.kind != spec.kind) continue;
    std::string out(named.name);
    if (spec.kind == Behaviour::PartialFlight) out += ":" + std::to_string(spec.flight_bytes);
    if (spec.kind == Behaviour::Alert) out += ":" + alert_name(spec.alert);
    return out;
  }
  return "?";
}

bool acts_on_client_hello(Behaviour kind) {
  return kind == Behaviour::RstAfterClientHello || kind == Behaviour::EofAfterClientHello ||
         kind == Behaviour::StallAfterClientHello || kind == Behaviour::PartialFlight ||
         kind == Behaviour::Alert;
}

bool is_foreign_service(Behaviour kind) {
  return kind == Behaviour::BannerSsh || kind == Behaviour::BannerHttp || kind == Behaviour::Silent;
}

std::string_view behaviour_names() {
  return "normal no-starttls starttls-masked starttls-454 starttls-injection banner-554 "
         "banner-421 banner-ssh banner-http banner-endless-line silent ehlo-reject ehlo-endless "
         "rst-after-clienthello "
         "eof-after-clienthello stall-after-clienthello partial-flight:N alert:NAME|CODE "
         "auth-fail no-auth-after-tls";
}

}  // namespace tlsrelay::testpeer

// The catalogue of misbehaviours the SMTP peer can be told to show (--behaviour B): which
// ones exist, how their names parse, and which phase each one acts in.
// Limits: one behaviour per process. Thread-safety: immutable values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

enum class Behaviour {
  Normal,
  NoStarttls,
  StarttlsMasked,
  Starttls454,
  StarttlsInjection,
  Banner554,
  Banner421,
  BannerSsh,
  BannerHttp,
  Silent,
  EhloReject,
  EhloEndless,        // EHLO answered with 100,000 "250-" lines and no last line
  BannerEndlessLine,  // a greeting of "220 " and 1 MiB without a line end
  RstAfterClientHello,
  EofAfterClientHello,
  StallAfterClientHello,
  PartialFlight,
  Alert,
  AuthFail,
  NoAuthAfterTls,
};

struct BehaviourSpec {
  Behaviour kind = Behaviour::Normal;
  std::size_t flight_bytes = 0;  // partial-flight:N
  int alert = 0;                 // alert:NAME, as the alert description code
};

// "normal", "partial-flight:1400", "alert:access_denied", "alert:49", ...
std::optional<BehaviourSpec> parse_behaviour(std::string_view text);
std::string to_string(const BehaviourSpec& spec);

// Behaviours that replace the TLS handshake with a raw trick once the ClientHello is in.
bool acts_on_client_hello(Behaviour kind);

// Behaviours of a service that is not SMTP at all: they act before (and instead of) TLS and
// the SMTP greeting, even on an implicit-TLS listener.
bool is_foreign_service(Behaviour kind);

// The list for --help.
std::string_view behaviour_names();

}  // namespace tlsrelay::testpeer

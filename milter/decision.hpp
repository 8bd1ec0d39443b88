// The milter's one decision per message, taken at end of message: from the relay's route
// status (or its absence), the message's facts and the [milter] settings, what to answer
// the MTA and which header fields to add. No I/O; everything here is unit-tested by table.
//
// Rules (README "The milter"):
// - no usable status: accept (fail open), no TLS-Relay-Route field, fail_open set;
// - REQUIRETLS and the route cannot give verified TLS (failing, or verified_tls false):
//   tempfail 451 4.7.5, whatever the policy;
// - route failing (or degraded when degraded_is_failing): the policy; accept and hold add
//   the fields, tempfail answers 451 4.7.5 with the class and hint;
// - otherwise accept with the fields.
// Every text that reaches a header or a reply went through header_text.hpp. Pure;
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "milter/message_facts.hpp"
#include "milter/route_status.hpp"

namespace tlsrelay::milter {

enum class Verdict { Accept, Tempfail, Hold };
std::string_view to_string(Verdict v);

inline constexpr std::string_view kRouteField = "TLS-Relay-Route";
inline constexpr std::string_view kInboundField = "TLS-Relay-Inbound";

struct HeaderField {
  std::string name;
  std::string value;  // folded for smfi_addheader ("\n " breaks)
};

struct Decision {
  Verdict verdict = Verdict::Accept;
  std::vector<HeaderField> headers;  // to add; none for Tempfail
  std::string reply_code;            // Tempfail: "451"
  std::string reply_xcode;           // Tempfail: "4.7.5"
  std::string reply_text;            // Tempfail: ready for smfi_setreply ('%' as "%%")
  std::string quarantine_reason;     // Hold
  std::string why;                   // for the log: "route-failing", "requiretls", ...
  bool fail_open = false;            // accepted because the status could not be read
};

Decision decide(const StatusReading& status, const MessageFacts& facts,
                const config::MilterSettings& settings);

// The unfolded field values (exposed for tests and the log).
std::string route_field_value(const RouteStatus& route);
std::string inbound_field_value(const InboundFacts& inbound);

}  // namespace tlsrelay::milter

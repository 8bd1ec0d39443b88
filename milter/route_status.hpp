// The relay's route health as tlsrelay-milter needs it, read from the /status document of
// docs/status-api.md ("route" object) and checked field by field.
//
// The document comes over the network from another process: it is treated as hostile.
// Any field of the wrong type, a state outside the contract, or an identifier with
// characters it cannot have makes the whole reading unusable (the milter then fails
// open); free text (the hint) is reduced to printable ASCII and cut to kMaxHint bytes, so
// nothing from it can end a header line or a reply. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::milter {

enum class RouteState { Unknown, Healthy, Degraded, Failing };
std::string_view to_string(RouteState s);

inline constexpr std::size_t kMaxStatusBody = 4 * 1024 * 1024;  // whole /status answer
inline constexpr std::size_t kMaxHint = 300;                    // bytes kept of a hint

struct RouteStatus {
  RouteState state = RouteState::Unknown;
  std::string upstream;                      // [A-Za-z0-9._-]{1,64}, "" when null
  std::optional<std::string> failure_class;  // [a-z0-9-]{1,64}
  std::optional<std::string> hint;           // printable ASCII, at most kMaxHint (+ "...")
  std::optional<std::string> since;          // RFC 3339 characters only, at most 40
  std::optional<bool> verified_tls;          // null or absent: not known yet
};

// Either a usable route status, or the reason there is none.
struct StatusReading {
  std::optional<RouteStatus> route;
  std::string problem;  // set when !route: "connect: Connection refused", "route.state ..."
};

StatusReading parse_status_document(std::string_view body);

}  // namespace tlsrelay::milter

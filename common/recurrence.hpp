// One-off or recurring: the rule that judges a route's incidents, shared by the relay's
// route health (proxy/upstream/route_health.hpp, docs/status-api.md "Incidents") and the
// words and incident gap of `tlsrelay explain` (proxy/explain/route_book.hpp,
// docs/explain.md "How a verdict is reached").
//
// An incident is a run of failures on one route: a failure joins the current incident
// unless the route succeeded since the previous failure or more than the incident gap G
// passed since it (the relay also starts a new one when the class changes; see
// route_health.hpp). A route is recurring when, among its incidents seen within `window`,
// there are at least `incidents`, or one of them lasted `duration` or longer; otherwise
// one-off. `explain` reads a whole log at once and calls two incidents recurring
// (kExplainRule); the relay runs for months and judges a sliding window.
//
// Pure; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tlsrelay {

enum class Recurrence { OneOff, Recurring };
std::string_view to_string(Recurrence r);  // "one-off", "recurring"

// G: failures of a route further apart than this (with no message still waiting, in
// explain's reading of a log) are separate incidents.
inline constexpr std::chrono::seconds kIncidentGap{30 * 60};

struct RecurrenceRule {
  std::chrono::seconds incident_gap = kIncidentGap;
  std::uint32_t incidents = 3;                // this many incidents within `window`...
  std::chrono::seconds window{24 * 60 * 60};  // ...make the route recurring
  std::chrono::seconds duration{30 * 60};     // or one incident this long; 0: never
  friend bool operator==(const RecurrenceRule&, const RecurrenceRule&) = default;
};

// The largest `incidents` a rule may name: the relay keeps this many incidents per route.
inline constexpr std::uint32_t kMaxRecurrenceIncidents = 16;

struct IncidentSpan {
  std::chrono::system_clock::time_point first;
  std::chrono::system_clock::time_point last;
};

// Whether a failure at `at` continues an incident whose last failure was at `last`, with no
// success on the route in between (the caller knows that, and the class).
bool continues_incident(const RecurrenceRule& rule, std::chrono::system_clock::time_point last,
                        std::chrono::system_clock::time_point at);

// The verdict at `now` over a route's incidents (any order); nullopt when none was seen
// within the window.
std::optional<Recurrence> judge(const RecurrenceRule& rule, std::span<const IncidentSpan> incidents,
                                std::chrono::system_clock::time_point now);

}  // namespace tlsrelay

#include "common/recurrence.hpp"

namespace tlsrelay {

std::string_view to_string(Recurrence r) {
  switch (r) {
    case Recurrence::OneOff:
      return "one-off";
    case Recurrence::Recurring:
      return "recurring";
  }
  return "one-off";
}

bool continues_incident(const RecurrenceRule& rule, std::chrono::system_clock::time_point last,
                        std::chrono::system_clock::time_point at) {
  // A clock that stepped back keeps the incident: an earlier time is no quiet gap.
  return at - last <= rule.incident_gap;
}

std::optional<Recurrence> judge(const RecurrenceRule& rule, std::span<const IncidentSpan> incidents,
                                std::chrono::system_clock::time_point now) {
  std::uint32_t seen = 0;
  bool long_one = false;
  for (const IncidentSpan& i : incidents) {
    if (now - i.last > rule.window) continue;
    ++seen;
    if (rule.duration.count() > 0 && i.last - i.first >= rule.duration) long_one = true;
  }
  if (seen == 0) return std::nullopt;
  return seen >= rule.incidents || long_one ? Recurrence::Recurring : Recurrence::OneOff;
}

}  // namespace tlsrelay

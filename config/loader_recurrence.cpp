// The loader's [health.recurrence] table: when a route's incidents make it recurring
// (common/recurrence.hpp, docs/configuration.md). Its own function, called with the [health]
// table's reader, so that [health]'s other keys are read beside it.
#include "config/loader_sections.hpp"

namespace tlsrelay::config::detail {

namespace {

std::optional<std::chrono::seconds> whole_seconds(TableReader& r, std::string_view key,
                                                  std::int64_t min, std::int64_t max) {
  auto v = r.integer(key, min, max);
  if (!v) return std::nullopt;
  return std::chrono::seconds(*v);
}

}  // namespace

void read_health_recurrence(TableReader& health, RecurrenceRule& rule) {
  const toml::table* t = health.subtable("recurrence");
  if (!t) return;
  TableReader r(*t, "[health.recurrence]", health.problems());
  set_if(whole_seconds(r, "incident_gap_s", 1, 86400), rule.incident_gap);
  set_if_as(r.integer("incidents", 1, kMaxRecurrenceIncidents), rule.incidents);
  set_if(whole_seconds(r, "window_s", 60, 7 * 86400), rule.window);
  set_if(whole_seconds(r, "duration_s", 0, 7 * 86400), rule.duration);
  r.finish();
}

}  // namespace tlsrelay::config::detail

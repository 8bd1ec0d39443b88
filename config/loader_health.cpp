// The [health] section of the loader: active route checks and certificate-expiry warning
// thresholds (loader.hpp, docs/configuration.md).
#include <algorithm>

#include "config/loader.hpp"
#include "config/loader_sections.hpp"

namespace tlsrelay::config::detail {

void read_health(TableReader& r, HealthSettings& h) {
  set_if(r.seconds("interval_s", 0, kDay), h.interval);
  // Below a second a check would start before the last one's records are read: no use,
  // and a way to hammer the smarthost.
  if (h.interval.count() > 0 && h.interval < std::chrono::seconds(1)) {
    r.problem(*r.table().get("interval_s"),
              r.name("interval_s") + " must be 0 (off) or at least 1 second");
  }
  set_if(r.boolean("auth"), h.auth);
  set_if_as(r.integer("concurrency", 1, 64), h.concurrency);
  if (const auto* a = r.array("certificate_warn_days")) {
    std::vector<int> days;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string what = r.name("certificate_warn_days") + "[" + std::to_string(i) + "]";
      const auto* v = e.as_integer();
      if (!v || v->get() < 1 || v->get() > 3650) {
        r.problem(e, what + " must be a whole number of days from 1 to 3650, not " +
                         (v ? std::to_string(v->get()) : type_name(e.type())));
        continue;
      }
      if (std::find(days.begin(), days.end(), static_cast<int>(v->get())) != days.end()) {
        r.problem(e, what + " " + std::to_string(v->get()) + " is listed twice");
        continue;
      }
      days.push_back(static_cast<int>(v->get()));
    }
    if (a->size() > 16) r.problem(*a, r.name("certificate_warn_days") + " may list at most 16");
    std::sort(days.begin(), days.end(), std::greater<>());
    h.certificate_warn_days = std::move(days);
  }
  // [health.recurrence] is read by read_health_recurrence (called from loader.cpp's [health]
  // section after this function); it is known here so that finish() does not reject it.
  (void)r.get("recurrence");
}

}  // namespace tlsrelay::config::detail

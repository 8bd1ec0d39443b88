// The /status JSON document (docs/status-api.md): route health per upstream and address,
// the overall route state, and the last attempt records. Read by the status page and by
// tlsrelay-milter. A pure function of the relay's telemetry (read under its lock) and config.
#pragma once

#include <nlohmann/json.hpp>

#include "proxy/status/telemetry.hpp"
#include "proxy/upstream/routes.hpp"

namespace tlsrelay::proxy {

nlohmann::ordered_json status_document(const Routes& config, const TelemetryView& telemetry,
                                       SysClock::time_point now);

// /timeline: the last hour's attempts for the status page,
// {"now": ..., "attempts": [{"age_s": 12.5, "upstream": "...", "class": "...", "group": "..."}]}.
nlohmann::json timeline_document(const TelemetryView& telemetry, SysClock::time_point now);

}  // namespace tlsrelay::proxy

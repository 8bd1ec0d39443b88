// What the relay's HTTP server answers: /metrics (Prometheus), /status (docs/status-api.md),
// / (the status page, proxy/status_page.html), /healthz. Reads the relay's telemetry and
// current config at each request.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proxy/http_server.hpp"
#include "proxy/relay_config.hpp"
#include "proxy/telemetry.hpp"

namespace tlsrelay::proxy {

HttpServer::Handler status_routes(std::function<std::shared_ptr<const RelayConfig>()> config,
                                  Telemetry& telemetry,
                                  std::function<std::size_t()> pooled_connections);

// The page's HTML (generated from proxy/status_page.html at build time).
extern const char* const kStatusPageHtml;

}  // namespace tlsrelay::proxy

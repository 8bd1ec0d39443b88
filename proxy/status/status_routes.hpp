// What the relay's HTTP server answers: /metrics (Prometheus), /status (docs/status-api.md),
// / (the status page, proxy/status/status_page.html), /healthz. Reads the relay's telemetry and
// current config at each request.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proxy/status/http_server.hpp"
#include "proxy/status/telemetry.hpp"
#include "proxy/upstream/routes.hpp"

namespace tlsrelay::proxy {

// What the pages read of the configuration in force, asked for at each request (reloads).
struct StatusSources {
  std::shared_ptr<const Routes> routes;
  bool address_labels = false;  // [http] address_labels
};

HttpServer::Handler status_routes(std::function<StatusSources()> config, Telemetry& telemetry,
                                  std::function<std::size_t()> pooled_connections);

// The page's HTML (generated from proxy/status/status_page.html at build time).
extern const char* const kStatusPageHtml;

}  // namespace tlsrelay::proxy

#include "proxy/status/status_routes.hpp"

#include "proxy/status/status_document.hpp"

namespace tlsrelay::proxy {

HttpServer::Handler status_routes(std::function<StatusSources()> config, Telemetry& telemetry,
                                  std::function<std::size_t()> pooled_connections) {
  return [config = std::move(config), &telemetry,
          pooled = std::move(pooled_connections)](const std::string& path) {
    HttpResponse r;
    const auto now = SysClock::now();
    if (path == "/status") {
      r.content_type = "application/json";
      const auto routes = config().routes;
      r.body =
          telemetry.read([&](const TelemetryView& v) { return status_document(*routes, v, now); })
              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      r.body += '\n';
    } else if (path == "/timeline") {
      r.content_type = "application/json";
      r.body = telemetry.read([&](const TelemetryView& v) { return timeline_document(v, now); })
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      r.body += '\n';
    } else if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      const auto cfg = config();
      Metrics::RenderInput in;
      for (const auto& u : cfg.routes->upstreams) in.upstreams.push_back(u.target.name);
      in.now = now;
      in.address_labels = cfg.address_labels;
      in.event_log_dropped = telemetry.events().dropped();
      in.pooled_upstream_connections = pooled();
      r.body = telemetry.read([&](const TelemetryView& v) {
        in.health = &v.health;
        in.certificates = &v.certificates;
        return v.metrics.render(in);
      });
    } else if (path == "/" || path == "/index.html") {
      r.content_type = "text/html; charset=utf-8";
      r.body = kStatusPageHtml;
    } else if (path == "/healthz") {
      r.body = "ok\n";
    } else {
      r.status = 404;
      r.body = "not found; try /, /status or /metrics\n";
    }
    return r;
  };
}

}  // namespace tlsrelay::proxy

#include "proxy/status/metrics.hpp"

#include <openssl/crypto.h>

#include "tls/build_info.hpp"

#include <cstdio>

#include "common/failure_class.hpp"

namespace tlsrelay::proxy {

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::Delivered:
      return "delivered";
    case Outcome::Deferred:
      return "deferred";
    case Outcome::Rejected:
      return "rejected";
  }
  return "rejected";
}

Outcome outcome_of_reply(int code) {
  if (code / 100 == 2) return Outcome::Delivered;
  if (code / 100 == 4) return Outcome::Deferred;
  return Outcome::Rejected;
}

namespace {

// Label values are bounded already; this keeps the exposition format valid whatever they
// hold (text format: backslash, double quote and newline are escaped).
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// ---- [health] (issue 21): route checks and certificate expiry ----

using CheckCounts = std::map<std::array<std::string, 2>, std::uint64_t>;

void render_checks(Writer& w, const CheckCounts& checks) {
  w.family("tlsrelay_route_checks_total", "counter",
           "Route checks (made without mail, [health] interval_s) by upstream and failure "
           "class (ok for success); not counted in tlsrelay_upstream_attempts_total.");
  for (const auto& [k, v] : checks) {
    w.sample("tlsrelay_route_checks_total", {{"upstream", k[0]}, {"class", k[1]}},
             static_cast<double>(v));
  }
}

void render_certificates(Writer& w, const Metrics::RenderInput& in) {
  if (!in.certificates) return;
  // As blackbox_exporter's probe_ssl_earliest_cert_expiry. Addresses are those route
  // health keeps (bounded, route_health.hpp), so the series come and go with them.
  w.family("tlsrelay_upstream_certificate_not_after_timestamp_seconds", "gauge",
           "The earliest notAfter (Unix time) of the certificate chain each upstream address "
           "last sent.");
  for (const std::string& u : in.upstreams) {
    const auto kept = in.health ? in.health->addresses_of(u, in.now) : std::vector<std::string>{};
    for (const std::string& a : kept) {
      if (const auto* e = in.certificates->find(u, a)) {
        w.sample("tlsrelay_upstream_certificate_not_after_timestamp_seconds",
                 {{"upstream", u}, {"address", a}}, static_cast<double>(e->not_after));
      }
    }
  }
  w.family("tlsrelay_certificate_not_after_timestamp_seconds", "gauge",
           "The notAfter (Unix time) of the relay's own certificate ([proxy] tls_cert).");
  if (const auto& own = in.certificates->own()) {
    w.sample("tlsrelay_certificate_not_after_timestamp_seconds", {{"certificate", "proxy"}},
             static_cast<double>(own->not_after));
  }
}

// ---- end of [health] ----

// One-off or recurring (issue 21, docs/status-api.md "Incidents"): incidents begun by
// (upstream, class), and whether an address of each upstream is recurring now.
void put_incidents(Writer& w, const std::map<std::array<std::string, 2>, std::uint64_t>& incidents,
                   const Metrics::RenderInput& in) {
  w.family("tlsrelay_route_incidents_total", "counter",
           "Incidents (runs of failures of one class on one upstream address) begun, by "
           "upstream and class (see docs/status-api.md \"Incidents\").");
  for (const auto& [k, v] : incidents) {
    w.sample("tlsrelay_route_incidents_total", {{"upstream", k[0]}, {"class", k[1]}},
             static_cast<double>(v));
  }
  if (!in.health) return;
  w.family("tlsrelay_route_recurring", "gauge",
           "1 when an address of the upstream is recurring by the [health.recurrence] rule, "
           "0 otherwise (see docs/status-api.md \"Incidents\").");
  for (const std::string& u : in.upstreams) {
    const auto r = in.health->upstream(u, in.now).recurrence;
    w.sample("tlsrelay_route_recurring", {{"upstream", u}}, r == Recurrence::Recurring ? 1 : 0);
  }
}

}  // namespace

void Metrics::Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++buckets[i];
  }
  ++count;
  sum += seconds;
}

void Metrics::attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict) {
  const auto& ci = info(verdict.cls);
  const std::string upstream = facts.upstream.name;
  ++attempts_[{upstream, std::string(ci.name), std::string(to_string(ci.group)),
               std::string(to_string(verdict.phase))}];
  const auto& t = facts.timings;
  const std::pair<const char*, const std::optional<double>*> phases[] = {
      {"dns", &t.dns},   {"connect", &t.connect},   {"banner", &t.banner},
      {"ehlo", &t.ehlo}, {"starttls", &t.starttls}, {"tls-handshake", &t.tls_handshake},
      {"auth", &t.auth}};
  for (const auto& [name, ms] : phases) {
    if (*ms) phase_seconds_[{upstream, name}].observe(**ms / 1000.0);
  }
  if (facts.tls.handshake_done) {
    ++handshakes_[{upstream, facts.tls.version, facts.tls.cipher}];
  }
}

void Metrics::check(const tls::AttemptFacts& facts, const tls::Verdict& verdict) {
  ++checks_[{facts.upstream.name, std::string(info(verdict.cls).name)}];
}

void Metrics::transaction(std::string_view upstream, Outcome outcome) {
  ++transactions_[{std::string(upstream), std::string(to_string(outcome))}];
}

void Metrics::incident(std::string_view upstream, FailureClass cls) {
  ++incidents_[{std::string(upstream), std::string(to_string(cls))}];
}

void Metrics::config_loaded(bool ok, SysClock::time_point at) {
  last_reload_ok_ = ok;
  if (ok) last_reload_success_ = std::chrono::duration<double>(at.time_since_epoch()).count();
}

// Long on purpose: the Prometheus exposition text, family after family (HELP, TYPE, series)
// in the order docs/monitoring.md's metrics table lists them; split, the one format would
// scatter.
std::string Metrics::render(const RenderInput& in) const {
  Writer w;
  // Which build answers (the info-metric convention: the value is 1, the facts are labels).
  w.family("tlsrelay_build_info", "gauge", "tlsrelay's version and the OpenSSL it runs with.");
  w.sample("tlsrelay_build_info",
           {{"version", tls::kVersion}, {"openssl", OpenSSL_version(OPENSSL_VERSION_STRING)}}, 1);
  // As Prometheus's own prometheus_config_last_reload_*: a failed SIGHUP keeps the old
  // configuration running, which only these show.
  w.family("tlsrelay_config_last_reload_successful", "gauge",
           "Whether the last configuration load (start or SIGHUP) took: 1 yes, 0 no.");
  w.sample("tlsrelay_config_last_reload_successful", {}, last_reload_ok_ ? 1 : 0);
  w.family("tlsrelay_config_last_reload_success_timestamp_seconds", "gauge",
           "When the configuration in force was loaded (Unix time).");
  w.sample("tlsrelay_config_last_reload_success_timestamp_seconds", {}, last_reload_success_);
  w.family("tlsrelay_upstream_attempts_total", "counter",
           "Upstream attempts by upstream, failure class (ok for success), group and phase.");
  for (const auto& [k, v] : attempts_) {
    w.sample("tlsrelay_upstream_attempts_total",
             {{"upstream", k[0]}, {"class", k[1]}, {"group", k[2]}, {"phase", k[3]}},
             static_cast<double>(v));
  }
  w.family("tlsrelay_upstream_phase_duration_seconds", "histogram",
           "Time spent in each phase of an upstream attempt.");
  for (const auto& [k, h] : phase_seconds_) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      const std::string le = number(kBuckets[i]);
      w.sample("tlsrelay_upstream_phase_duration_seconds_bucket",
               {{"upstream", k[0]}, {"phase", k[1]}, {"le", le}},
               static_cast<double>(h.buckets[i]));
    }
    w.sample("tlsrelay_upstream_phase_duration_seconds_bucket",
             {{"upstream", k[0]}, {"phase", k[1]}, {"le", "+Inf"}}, static_cast<double>(h.count));
    w.sample("tlsrelay_upstream_phase_duration_seconds_sum", {{"upstream", k[0]}, {"phase", k[1]}},
             h.sum);
    w.sample("tlsrelay_upstream_phase_duration_seconds_count",
             {{"upstream", k[0]}, {"phase", k[1]}}, static_cast<double>(h.count));
  }
  w.family("tlsrelay_upstream_tls_handshakes_total", "counter",
           "Completed upstream TLS handshakes by protocol version and cipher.");
  for (const auto& [k, v] : handshakes_) {
    w.sample("tlsrelay_upstream_tls_handshakes_total",
             {{"upstream", k[0]}, {"version", k[1]}, {"cipher", k[2]}}, static_cast<double>(v));
  }
  render_checks(w, checks_);
  w.family("tlsrelay_transactions_total", "counter",
           "Mail transactions by upstream and how they ended towards the client "
           "(delivered: 2xx, deferred: 4xx, rejected: 5xx; upstream \"-\" when none opened).");
  for (const auto& [k, v] : transactions_) {
    w.sample("tlsrelay_transactions_total", {{"upstream", k[0]}, {"outcome", k[1]}},
             static_cast<double>(v));
  }
  w.family("tlsrelay_client_connections_refused_total", "counter",
           "Client connections refused at connect, by reason.");
  for (const auto& [k, v] : refused_) {
    w.sample("tlsrelay_client_connections_refused_total", {{"reason", k}}, static_cast<double>(v));
  }
  w.family("tlsrelay_client_sessions_evicted_total", "counter",
           "Idle client sessions closed to make room for a new client at max_connections.");
  w.sample("tlsrelay_client_sessions_evicted_total", {}, static_cast<double>(evicted_));
  w.family("tlsrelay_client_sessions", "gauge", "Client (MTA) sessions open now.");
  w.sample("tlsrelay_client_sessions", {}, static_cast<double>(client_sessions_));
  w.family("tlsrelay_upstream_pooled_connections", "gauge",
           "Idle upstream connections kept for reuse.");
  w.sample("tlsrelay_upstream_pooled_connections", {},
           static_cast<double>(in.pooled_upstream_connections));
  w.family("tlsrelay_event_log_dropped_total", "counter",
           "Attempt records not written because the event log's queue was full.");
  w.sample("tlsrelay_event_log_dropped_total", {}, static_cast<double>(in.event_log_dropped));

  if (in.health) {
    static constexpr Health kStates[] = {Health::Unknown, Health::Healthy, Health::Degraded,
                                         Health::Failing};
    w.family("tlsrelay_route_health", "gauge",
             "1 for the current health state of each upstream (see docs/status-api.md).");
    for (const std::string& u : in.upstreams) {
      const Health now = in.health->upstream(u, in.now).state;
      for (Health s : kStates) {
        w.sample("tlsrelay_route_health", {{"upstream", u}, {"state", to_string(s)}},
                 s == now ? 1 : 0);
      }
    }
    if (in.address_labels) {
      w.family("tlsrelay_route_address_health", "gauge",
               "1 for the current health state of each upstream address.");
      for (const std::string& u : in.upstreams) {
        for (const std::string& a : in.health->addresses_of(u, in.now)) {
          if (a.empty()) continue;
          const Health now = in.health->address(u, a, in.now).state;
          for (Health s : kStates) {
            w.sample("tlsrelay_route_address_health",
                     {{"upstream", u}, {"address", a}, {"state", to_string(s)}}, s == now ? 1 : 0);
          }
        }
      }
    }
  }
  render_certificates(w, in);
  put_incidents(w, incidents_, in);
  return w.take();
}

}  // namespace tlsrelay::proxy

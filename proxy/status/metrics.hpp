// Prometheus metrics of the relay (text exposition format 0.0.4), served on /metrics.
//
// Names follow the Prometheus conventions (tlsrelay_ prefix, _total counters, _seconds
// histograms, base units). Label values are bounded: configured upstream names, class,
// group and phase ids, TLS versions and cipher names from OpenSSL, fixed outcome words;
// never free text, and addresses only when [http] address_labels is set (then those that
// route health keeps: at most RouteHealth::kMaxAddresses).
//
// Not thread-safe itself: the relay's Telemetry holds it behind its mutex.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/status/certificate_expiry.hpp"
#include "proxy/upstream/route_health.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

// How a transaction ended towards our client.
enum class Outcome { Delivered, Deferred, Rejected };
Outcome outcome_of_reply(int code);
std::string_view to_string(Outcome o);

class Metrics {
 public:
  static constexpr std::array<double, 15> kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

  void attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict);
  // A route check (route_checker.hpp): its own series, never in the attempts above.
  void check(const tls::AttemptFacts& facts, const tls::Verdict& verdict);
  void transaction(std::string_view upstream, Outcome outcome);
  // A failure began a new incident on one of the upstream's addresses (route_health.hpp).
  void incident(std::string_view upstream, FailureClass cls);
  void client_session_opened() { ++client_sessions_; }
  void client_session_closed() { --client_sessions_; }
  void client_refused(std::string_view reason) { ++refused_[std::string(reason)]; }
  void client_evicted() { ++evicted_; }
  // The configuration was (re)loaded at `at` (the start, or a SIGHUP): whether it took.
  void config_loaded(bool ok, SysClock::time_point at);

  struct RenderInput {
    std::vector<std::string> upstreams;  // configured names, in order
    const RouteHealth* health = nullptr;
    const CertificateExpiry* certificates = nullptr;
    SysClock::time_point now;
    bool address_labels = false;
    std::uint64_t event_log_dropped = 0;
    std::size_t pooled_upstream_connections = 0;
  };
  std::string render(const RenderInput& in) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
  };

  // attempts by (upstream, class, group, phase)
  std::map<std::array<std::string, 4>, std::uint64_t> attempts_;
  // phase latency by (upstream, phase)
  std::map<std::array<std::string, 2>, Histogram> phase_seconds_;
  // handshakes by (upstream, version, cipher)
  std::map<std::array<std::string, 3>, std::uint64_t> handshakes_;
  // route checks by (upstream, class)
  std::map<std::array<std::string, 2>, std::uint64_t> checks_;
  // transactions by (upstream, outcome)
  std::map<std::array<std::string, 2>, std::uint64_t> transactions_;
  // incidents by (upstream, class)
  std::map<std::array<std::string, 2>, std::uint64_t> incidents_;
  std::map<std::string, std::uint64_t> refused_;
  std::uint64_t evicted_ = 0;
  bool last_reload_ok_ = true;
  double last_reload_success_ = 0;  // seconds since the epoch
  std::int64_t client_sessions_ = 0;
};

}  // namespace tlsrelay::proxy

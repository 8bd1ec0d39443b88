// Route health: per upstream and address, a small state (unknown / healthy / degraded /
// failing) kept from recent attempts, with the last failure's class, hint and since when.
// A failing address is held down for a while: the policy engine tries it after the others
// instead of first for every message. The rules are docs/status-api.md "States"; this is
// also what /status, the status page, /metrics and tlsrelay-milter show.
//
// Pure bookkeeping: the caller passes the time, nothing here does I/O. Keeps at most one
// hour (and kMaxOutcomes) of outcomes per address.
//
// Bounded against rotating DNS answers and hostile resolvers: an address is kept while it
// is in its upstream's latest DNS answer, is the upstream's most recently tried address, or
// had an outcome within kAddressTtl; at most kMaxAddressesPerUpstream addresses per upstream
// and kMaxAddresses in all (the least recently tried go first, the latest answer's last).
// Whatever reads addresses (/status, /metrics) is bounded by the same numbers.
//
// Incidents (issue 21, docs/status-api.md "Incidents"): a run of failures of one class on
// one address. A failure joins the address's current incident when it has the same class,
// no success came since the previous failure, and at most the rule's incident gap passed
// (common/recurrence.hpp, the gap `tlsrelay explain` uses too); otherwise it starts a new
// one. The rule then calls the address one-off or recurring. Each address keeps the
// incidents seen within the rule's window, at most kMaxIncidents (the oldest go first), and
// they go with the address when it is forgotten.
//
// Not thread-safe itself: the relay's Telemetry holds it behind its mutex (sessions on
// every thread read it through AttemptSink::health()).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/failure_class.hpp"
#include "common/recurrence.hpp"

namespace tlsrelay::proxy {

enum class Health { Unknown, Healthy, Degraded, Failing };
std::string_view to_string(Health h);

using SysClock = std::chrono::system_clock;

struct AttemptOutcome {
  std::string upstream;  // the configured name
  std::string address;   // the IP connected (or tried); "" when it ended before (DNS)
  FailureClass cls = FailureClass::Ok;
  bool transient = false;  // the verdict's: may a later try succeed unchanged?
  std::string hint;
  bool verified_tls = false;          // for ok: the certificate was verified
  std::vector<std::string> resolved;  // every address DNS returned, when it resolved
};

// One incident of an address, as /status shows it.
struct IncidentView {
  FailureClass cls = FailureClass::TlsError;
  SysClock::time_point first_seen;
  SysClock::time_point last_seen;
  std::uint64_t failures = 0;
  // No success since its last failure, which is within the incident gap: it may go on
  // (explain's "ongoing").
  bool ongoing = false;
};

struct WindowStats {
  std::size_t attempts = 0;
  std::size_t successes = 0;
  std::optional<double> ratio() const;  // nullopt without attempts
};

// The state of one address (or, aggregated, of one upstream).
struct HealthView {
  Health state = Health::Unknown;
  std::optional<FailureClass> cls;  // the latest failure while not healthy
  std::string hint;
  std::optional<SysClock::time_point> since;  // when the current run of failures began
  std::optional<SysClock::time_point> last_attempt;
  std::optional<SysClock::time_point> held_down_until;
  int consecutive_failures = 0;
  WindowStats last_5m, last_1h;
  // The incidents seen within the recurrence window, oldest first (address views; an
  // upstream's view leaves the list empty and counts its addresses' in incident_count).
  std::vector<IncidentView> incidents;
  std::size_t incident_count = 0;
  // The rule's verdict (an upstream's: its worst address's); nullopt without incidents.
  std::optional<Recurrence> recurrence;
};

class RouteHealth {
 public:
  static constexpr std::size_t kMaxOutcomes = 4096;  // per address, within the hour
  static constexpr int kFailingAfter = 3;            // failures in a row
  static constexpr auto kDegradedWindow = std::chrono::minutes(5);
  // An address not in the latest DNS answer is forgotten an hour after its last outcome.
  static constexpr auto kAddressTtl = std::chrono::hours(1);
  static constexpr std::size_t kMaxAddressesPerUpstream = 64;
  static constexpr std::size_t kMaxAddresses = 256;                      // all upstreams together
  static constexpr std::size_t kMaxIncidents = kMaxRecurrenceIncidents;  // per address

  explicit RouteHealth(std::chrono::milliseconds hold_down) : hold_down_(hold_down) {}

  // Returns true when the outcome began a new incident (for the incident counter).
  bool record(const AttemptOutcome& o, SysClock::time_point now);

  HealthView address(std::string_view upstream, std::string_view address,
                     SysClock::time_point now) const;
  HealthView upstream(std::string_view upstream, SysClock::time_point now) const;
  // The addresses kept at `now` (see above), in address order.
  std::vector<std::string> addresses_of(std::string_view upstream, SysClock::time_point now) const;
  std::size_t address_count() const { return address_count_; }  // all upstreams, as stored

  bool held_down(std::string_view upstream, std::string_view address,
                 SysClock::time_point now) const;
  // True when every address seen for the upstream is held down (and at least one was seen).
  bool upstream_held_down(std::string_view upstream, SysClock::time_point now) const;
  // The upstream's last DNS answer with held-down addresses moved to the end (their order
  // kept), when it is younger than max_age; empty otherwise (then the connector resolves).
  std::vector<std::string> address_order(std::string_view upstream, SysClock::time_point now,
                                         std::chrono::seconds max_age) const;
  // Whether the upstream's last successful attempt had verified TLS (nullopt: none yet).
  std::optional<bool> last_verified_tls(std::string_view upstream) const;

  // The address's recurrence verdict at `now`; nullopt without incidents in the window.
  std::optional<Recurrence> recurrence(std::string_view upstream, std::string_view address,
                                       SysClock::time_point now) const;

  void set_hold_down(std::chrono::milliseconds d) { hold_down_ = d; }
  void set_recurrence(const RecurrenceRule& rule) { rule_ = rule; }
  const RecurrenceRule& recurrence_rule() const { return rule_; }

 private:
  struct Entry {
    SysClock::time_point at;
    bool ok;
  };
  struct Incident {
    FailureClass cls;
    SysClock::time_point first;
    SysClock::time_point last;
    std::uint64_t failures;
  };
  struct AddressState {
    std::deque<Entry> outcomes;  // oldest first
    FailureClass last_failure = FailureClass::Ok;
    bool last_transient = false;
    std::string last_hint;
    SysClock::time_point failing_since{};
    SysClock::time_point last_failure_at{};
    SysClock::time_point last_outcome_at{};
    int consecutive_failures = 0;
    std::deque<Incident> incidents;  // oldest first; the current one last
  };
  using Addresses = std::map<std::string, AddressState, std::less<>>;
  struct UpstreamState {
    Addresses addresses;
    std::vector<std::string> resolved;         // the last DNS answer, in the connector's order
    std::vector<std::string> resolved_sorted;  // the same, for lookups
    SysClock::time_point resolved_at{};
    std::string last_address;  // the address of the latest outcome
    std::optional<bool> last_verified_tls;
  };
  struct Candidate {
    SysClock::time_point last_outcome_at;
    UpstreamState* upstream;
    Addresses::iterator address;
    bool pinned;  // in the latest DNS answer, or the upstream's latest address
  };

  HealthView view(const AddressState& a, SysClock::time_point now) const;
  bool note_incident(AddressState& a, FailureClass cls, bool continues, SysClock::time_point now);
  std::optional<Recurrence> judge_incidents(const AddressState& a, SysClock::time_point now) const;
  static bool is_pinned(const UpstreamState& u, std::string_view address);
  static bool kept(const UpstreamState& u, std::string_view address, const AddressState& a,
                   SysClock::time_point now);
  void forget_expired(SysClock::time_point now);
  void evict(std::vector<Candidate> candidates, std::size_t cap, std::size_t low_water);
  void evict_over_caps(UpstreamState& u);

  std::chrono::milliseconds hold_down_;
  RecurrenceRule rule_;
  std::map<std::string, UpstreamState, std::less<>> upstreams_;
  std::size_t address_count_ = 0;
  SysClock::time_point next_sweep_{};
};

}  // namespace tlsrelay::proxy

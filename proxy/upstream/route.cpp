#include "proxy/upstream/route.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <set>

#include "config/policy_rules.hpp"
#include "config/secret_file.hpp"
#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "tls/attempt_record.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Credentials are read from their file at each use, so a rotated password (or a refreshed
// token) takes effect without a reload, and the secret lives in memory only for the attempt.
std::optional<tls::Credentials> credentials(const UpstreamConfig& u, std::string& error) {
  if (!u.auth_user) return std::nullopt;
  try {
    tls::Credentials c;
    c.user = *u.auth_user;
    c.password = config::read_secret(u.password_file);
    c.mechanism = u.auth_mechanism;
    return c;
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

// Where the next attempt goes and with which profile.
struct Cursor {
  std::size_t upstream = 0;            // index into the route's upstream order
  std::vector<std::string> addresses;  // learnt from the first attempt's DNS answer
  std::size_t address = 0;
  int retries = 0;  // of the current address
  bool compat = false;
  bool plaintext = false;
  std::string why;  // the action that led to this attempt, for the record

  void next_upstream() { *this = Cursor{upstream + 1, {}, 0, 0, false, false, "next-upstream"}; }
};

// Jittered backoff (±20%) so that many sessions retrying one upstream do not stampede it.
Clock::duration backoff(const config::PolicySettings& p, int retry) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  if (p.backoff.empty()) return Clock::duration::zero();
  const auto base =
      p.backoff[std::min<std::size_t>(static_cast<std::size_t>(retry - 1), p.backoff.size() - 1)];
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Clock::duration>(base * jitter(rng));
}

// The configured upstreams in order, those that route health holds down moved to the end.
std::vector<std::size_t> upstream_order(const Routes& config, const RouteHealth& health) {
  std::vector<std::size_t> order(config.upstreams.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto now = SysClock::now();
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) {
    return !health.upstream_held_down(config.upstreams[i].target.name, now);
  });
  return order;
}

// How long a remembered DNS answer may stand in for a fresh lookup when it lets us put a
// held-down address last.
constexpr std::chrono::seconds kRememberedDnsAge{60};

}  // namespace

asio::awaitable<RouteResult> open_route(std::shared_ptr<const Routes> config,
                                        AttemptSink& telemetry, UpstreamPool& pool,
                                        const RouteRequest& request) {
  RouteResult result;
  const auto& policy = config->policy;
  const std::vector<std::size_t> order = upstream_order(*config, telemetry.health());
  if (request.allow_pool && !order.empty()) {
    result.session = pool.take(config->upstreams[order.front()].target.name, config.get());
    if (result.session) {
      result.pooled = true;
      co_return result;
    }
  }
  const auto deadline = request.deadline.value_or(Clock::now() + policy.deadline);
  int attempts = 0;
  std::set<std::size_t> upstreams_tried;
  Cursor cur;
  cur.why = "first";
  bool reject = false;

  while (cur.upstream < order.size()) {
    const UpstreamConfig& u = config->upstreams[order[cur.upstream]];
    upstreams_tried.insert(cur.upstream);
    // A held-down address goes last: then use the remembered DNS answer in that order
    // (otherwise the connector resolves afresh and takes the first address).
    if (cur.addresses.empty() && u.target.connect_address.empty()) {
      const auto now = SysClock::now();
      const auto& health = telemetry.health();
      auto remembered = health.address_order(u.target.name, now, kRememberedDnsAge);
      const bool any_held = std::any_of(
          remembered.begin(), remembered.end(),
          [&](const std::string& a) { return health.held_down(u.target.name, a, now); });
      if (remembered.size() > 1 && any_held) cur.addresses = std::move(remembered);
    }
    ++attempts;
    tls::AttemptOptions opt;
    opt.target = u.target;
    if (!cur.addresses.empty()) opt.target.connect_address = cur.addresses[cur.address];
    opt.ehlo_name = config->ehlo_name;
    opt.fallback = cur.compat;  // compat follows a failed attempt with the normal profile
    // No single phase may outlive the transaction's deadline.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    opt.phase_timeout = std::max(std::chrono::milliseconds(1), std::min(u.phase_timeout, left));
    std::shared_ptr<tls::ClientContext> ctx = cur.compat ? u.compat_context : u.context;
    std::string ctx_error = cur.compat ? u.compat_error : u.context_error;
    std::string secret_error;
    if (cur.plaintext) {
      opt.target.tls_mode = TlsMode::None;  // never with credentials (checked below)
    } else {
      opt.credentials = credentials(u, secret_error);
    }

    tls::AttemptResult attempt;
    if (!secret_error.empty()) {
      attempt.facts.started = std::chrono::system_clock::now();
      attempt.facts.upstream = opt.target;
      attempt.facts.phase = Phase::Auth;
      attempt.facts.ending = tls::Ending::LocalSetup;
      attempt.facts.local_detail = secret_error;
    } else {
      attempt = co_await tls::run_attempt(opt, ctx, ctx_error);
    }
    tls::Verdict verdict = tls::classify(attempt.facts);
    auto record = tls::attempt_record(attempt.facts, verdict);
    record["transaction"] = request.transaction_id;
    record["attempt"] = attempts;
    record["policy_step"] = cur.why;
    record["profile"] = cur.plaintext ? "plaintext" : cur.compat ? "compat" : "default";
    telemetry.attempt(attempt.facts, verdict, record);

    if (attempt.stream) {
      result.session =
          std::make_unique<UpstreamSession>(std::move(attempt.stream), std::move(attempt.facts));
      result.session->set_profile(cur.plaintext ? RouteProfile::Plaintext
                                  : cur.compat  ? RouteProfile::Compat
                                                : RouteProfile::Normal);
      result.session->set_config_generation(config->generation);
      co_return result;
    }
    if (cur.addresses.empty() && opt.target.connect_address.empty() &&
        attempt.facts.network.addresses.size() > 1) {
      cur.addresses = attempt.facts.network.addresses;
    }
    result.failures.push_back({attempt.facts, verdict});
    if (Clock::now() >= deadline) break;  // "when the deadline is spent the answer is defer"

    // The first action of the class's rule that still applies decides what comes next.
    const auto& ci = info(verdict.cls);
    const auto rule = config::effective_rule(policy, ci.name, to_string(ci.group));
    bool moved = false;
    for (const config::Action& a : rule.actions) {
      using K = config::ActionKind;
      if (a.kind == K::Retry && cur.retries < a.count) {
        ++cur.retries;
        cur.why = "retry:" + std::to_string(cur.retries);
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(
            std::min<Clock::duration>(backoff(policy, cur.retries), deadline - Clock::now()));
        co_await t.async_wait(asio::use_awaitable);
        moved = true;
      } else if (a.kind == K::NextAddress && cur.address + 1 < cur.addresses.size()) {
        ++cur.address;
        cur.retries = 0;
        cur.why = "next-address";
        moved = true;
      } else if (a.kind == K::NextUpstream && cur.upstream + 1 < order.size()) {
        cur.next_upstream();
        moved = true;
      } else if (a.kind == K::Compat && u.compat_context && !cur.compat && !request.require_tls) {
        // Never for a message that requires TLS (RFC 8689): compat lowers the profile,
        // down to security level 0 where weak keys and ciphers pass verification.
        cur.compat = true;
        cur.retries = 0;
        cur.why = "compat";
        moved = true;
      } else if (a.kind == K::Plaintext && u.allow_plaintext && !u.auth_user &&
                 !request.require_tls && !cur.plaintext && u.target.tls_mode != TlsMode::None) {
        // Never a silent downgrade: only where the upstream allows it, without credentials
        // (they never travel in clear), and never for a message that requires TLS.
        cur.plaintext = true;
        cur.retries = 0;
        cur.why = "plaintext";
        moved = true;
      } else if (a.kind == K::Defer) {
        break;
      } else if (a.kind == K::Reject) {
        reject = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) break;
  }

  if (result.failures.empty()) {
    result.failure_reply = no_upstream_reply();
  } else {
    const auto& last = result.failures.back();
    result.failure_reply = deferral_reply(last.facts, last.verdict, attempts,
                                          static_cast<int>(upstreams_tried.size()));
    if (reject) result.failure_reply = rejection_reply(result.failure_reply, last.verdict);
  }
  co_return result;
}

}  // namespace tlsrelay::proxy

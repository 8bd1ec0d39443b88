#include "proxy/upstream/route.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <optional>
#include <random>

#include "config/secret_file.hpp"
#include "proxy/policy/policy.hpp"
#include "tls/attempt_record.hpp"
#include "tls/server_speaks.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Credentials are read from their file at each use, so a rotated password (or a refreshed
// token) takes effect without a reload, and the secret lives in memory only for the attempt.
std::optional<tls::Credentials> read_credentials(const UpstreamConfig& u, std::string& error) {
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

namespace {

// How long a remembered DNS answer may stand in for a fresh lookup when it lets us put a
// held-down address last.
constexpr std::chrono::seconds kRememberedDnsAge{60};

// Where the next attempt goes and with which profile: the policy's cursor (next_step decides
// how it moves) and the addresses it counts.
struct Cursor {
  RouteCursor at;
  std::vector<std::string> addresses;  // learnt from a DNS answer, in the order to try
  std::string why = "first";           // the step that led to this attempt, for the record

  void learn(std::vector<std::string> a) {
    addresses = std::move(a);
    at.addresses = addresses.size();
  }
  void take(const RouteStep& step) {
    at = advance(at, step);
    if (step.kind == StepKind::NextUpstream) addresses.clear();  // another DNS answer
    why = to_string(step);
  }
};

// Jittered backoff (±20%) so that many sessions retrying one upstream do not stampede it.
Clock::duration backoff(const config::PolicySettings& p, int retry) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  if (p.backoff.empty()) return Clock::duration::zero();
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Clock::duration>(backoff_base(p, retry) * jitter(rng));
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

// A held-down address goes last: then the remembered DNS answer in that order is used
// (otherwise the connector resolves afresh and takes the first address). Empty when no
// address of the upstream is held down.
std::vector<std::string> held_down_last(const RouteHealth& health, const UpstreamConfig& u) {
  const auto now = SysClock::now();
  auto remembered = health.address_order(u.target.name, now, kRememberedDnsAge);
  const bool any_held =
      std::any_of(remembered.begin(), remembered.end(),
                  [&](const std::string& a) { return health.held_down(u.target.name, a, now); });
  if (remembered.size() > 1 && any_held) return remembered;
  return {};
}

UpstreamTraits traits(const UpstreamConfig& u) {
  UpstreamTraits t;
  t.has_compat = u.compat_context != nullptr;
  t.allow_plaintext = u.allow_plaintext;
  t.has_credentials = u.auth_user.has_value();
  t.tls_mode = u.target.tls_mode;
  return t;
}

// What the attempt at the cursor needs; `secret_error` says why the credentials could not
// be read.
tls::AttemptOptions attempt_options(const Routes& config, const UpstreamConfig& u,
                                    const Cursor& cur, Clock::time_point deadline,
                                    std::string& secret_error) {
  tls::AttemptOptions opt;
  opt.target = u.target;
  if (!cur.addresses.empty()) opt.target.connect_address = cur.addresses[cur.at.address];
  opt.ehlo_name = config.ehlo_name;
  opt.fallback = cur.at.compat;  // compat follows a failed attempt with the normal profile
  // No single phase may outlive the transaction's deadline.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  opt.phase_timeout = std::max(std::chrono::milliseconds(1), std::min(u.phase_timeout, left));
  if (cur.at.plaintext) {
    opt.target.tls_mode = TlsMode::None;  // never with credentials (next_step sees to it)
  } else {
    opt.credentials = read_credentials(u, secret_error);
  }
  return opt;
}

struct Attempted {
  tls::AttemptResult result;
  tls::Verdict verdict;
};

// After the normal profile met a version or suite mismatch: one bounded follow-up
// (tls/server_speaks.hpp: at most 4 handshakes, within one phase time-out and the
// transaction's deadline, never AUTH or MAIL) finds what the server speaks, and the hint
// (451, event record, /status) says it first, and whether the compat profile would reach
// it. The class, and so the policy's next step, stay the same.
asio::awaitable<void> name_what_it_speaks(Attempted& a, const tls::AttemptOptions& opt,
                                          const UpstreamConfig& u, Clock::time_point deadline) {
  const FailureClass cls = a.verdict.cls;
  if ((cls != FailureClass::TlsProtocolMismatch && cls != FailureClass::TlsNoSharedCipher) ||
      !u.context) {
    co_return;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left <= std::chrono::milliseconds(0)) co_return;
  std::optional<tls::ClientProfile> compat;
  if (u.compat_context) compat = u.compat_context->profile();
  const tls::ServerSpeaks speaks = co_await tls::what_server_speaks(
      opt, u.context->profile(), cls, std::min(opt.phase_timeout, left));
  const std::string more = tls::follow_up_hint(speaks, compat);
  if (!more.empty()) a.verdict.hint = more + " " + a.verdict.hint;
}

// One attempt at the cursor's upstream, address and profile, reported to the sink (event
// log, route health). A secret that cannot be read fails it before any connection.
asio::awaitable<Attempted> attempt_at(const Routes& config, const UpstreamConfig& u,
                                      const Cursor& cur, Clock::time_point deadline,
                                      AttemptSink& telemetry, const RouteRequest& request,
                                      int number) {
  std::string secret_error;
  const tls::AttemptOptions opt = attempt_options(config, u, cur, deadline, secret_error);
  Attempted a;
  if (!secret_error.empty()) {
    a.result.facts.started = std::chrono::system_clock::now();
    a.result.facts.upstream = opt.target;
    a.result.facts.phase = Phase::Auth;
    a.result.facts.ending = tls::Ending::LocalSetup;
    a.result.facts.local_detail = secret_error;
  } else {
    a.result = co_await tls::run_attempt(opt, cur.at.compat ? u.compat_context : u.context,
                                         cur.at.compat ? u.compat_error : u.context_error);
  }
  a.verdict = tls::classify(a.result.facts);
  if (!cur.at.compat && !cur.at.plaintext && secret_error.empty()) {
    co_await name_what_it_speaks(a, opt, u, deadline);
  }
  auto record = tls::attempt_record(a.result.facts, a.verdict);
  record["transaction"] = request.transaction_id;
  record["check"] = false;  // a route check's record says true (route_checker.hpp)
  record["attempt"] = number;
  record["policy_step"] = cur.why;
  record["profile"] = cur.at.plaintext ? "plaintext" : cur.at.compat ? "compat" : "default";
  telemetry.attempt(a.result.facts, a.verdict, record);
  co_return a;
}

std::unique_ptr<UpstreamSession> open_session(const Routes& config, const Cursor& cur,
                                              tls::AttemptResult& attempt) {
  auto session =
      std::make_unique<UpstreamSession>(std::move(attempt.stream), std::move(attempt.facts));
  session->set_profile(cur.at.plaintext ? RouteProfile::Plaintext
                       : cur.at.compat  ? RouteProfile::Compat
                                        : RouteProfile::Normal);
  session->set_config_generation(config.generation);
  return session;
}

}  // namespace

// Carries out what policy/policy.hpp decides: next_step() after each failed attempt, then
// route_failure_reply() when no step moves on.
asio::awaitable<RouteResult> open_route(std::shared_ptr<const Routes> config,
                                        AttemptSink& telemetry, UpstreamPool& pool,
                                        const RouteRequest& request) {
  RouteResult result;
  const auto& policy = config->policy;
  const std::vector<std::size_t> order = upstream_order(*config, *telemetry.health());
  if (request.allow_pool && !order.empty()) {
    result.session = pool.take(config->upstreams[order.front()].target.name, config.get());
    if (result.session) {
      result.pooled = true;
      co_return result;
    }
  }
  const auto deadline = request.deadline.value_or(Clock::now() + policy.deadline);
  int attempts = 0;
  Cursor cur;
  cur.at.upstreams = order.size();
  RouteStep step;  // how the route ended: Defer or Reject

  while (cur.at.upstream < order.size()) {
    const UpstreamConfig& u = config->upstreams[order[cur.at.upstream]];
    const bool resolves = u.target.connect_address.empty();
    if (cur.addresses.empty() && resolves) cur.learn(held_down_last(*telemetry.health(), u));
    Attempted a = co_await attempt_at(*config, u, cur, deadline, telemetry, request, ++attempts);
    if (a.result.stream) {
      result.session = open_session(*config, cur, a.result);
      co_return result;
    }
    if (cur.addresses.empty() && resolves && a.result.facts.network.addresses.size() > 1) {
      cur.learn(a.result.facts.network.addresses);
    }
    auto recurrence =
        telemetry.health()->recurrence(a.result.facts.upstream.name, a.result.facts.network.address,
                                       std::chrono::system_clock::now());
    result.failures.push_back({std::move(a.result.facts), a.verdict, recurrence});
    step = next_step(policy, a.verdict.cls, cur.at, traits(u), MessageNeeds{request.require_tls},
                     Clock::now() >= deadline);
    Clock::duration wait{};
    if (step.kind == StepKind::Retry) {
      wait = backoff(policy, step.retry);
      // A retry that could only start at the deadline is no retry: it would be an attempt
      // with no time left, failing as a made-up timeout that hides the real failure. The
      // rule's next action decides instead (retries count as used up).
      if (Clock::now() + wait >= deadline) {
        RouteCursor no_retry = cur.at;
        no_retry.retries = std::numeric_limits<int>::max();
        step = next_step(policy, a.verdict.cls, no_retry, traits(u),
                         MessageNeeds{request.require_tls}, Clock::now() >= deadline);
        wait = {};
      }
    }
    if (!moves_on(step.kind)) break;
    if (wait > Clock::duration::zero()) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(wait);
      co_await t.async_wait(asio::use_awaitable);
    }
    cur.take(step);
  }
  // The cursor only moves forward one upstream at a time, each of them tried.
  result.failure_reply = route_failure_reply(result.failures, static_cast<int>(cur.at.upstream) + 1,
                                             step.kind, request.transaction_id);
  co_return result;
}

}  // namespace tlsrelay::proxy

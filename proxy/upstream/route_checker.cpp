#include "proxy/upstream/route_checker.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/upstream/route.hpp"
#include "proxy/upstream/upstream_session.hpp"
#include "tls/attempt_record.hpp"
#include "tls/classifier.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

// How long a remembered DNS answer names the addresses to check, in intervals: the
// resolving check refreshes it once an interval.
constexpr int kRememberedAnswerIntervals = 3;

// The loop never sleeps less than this: a route that stays due (its check cannot start)
// must not make it spin.
constexpr auto kMinSleep = std::chrono::milliseconds(10);

}  // namespace

RouteChecker::RouteChecker(asio::io_context& io, AttemptSink& sink, std::uint64_t seed)
    : io_(io), sink_(sink), schedule_(seed), wake_(io) {}

RouteChecker::~RouteChecker() = default;

void RouteChecker::start(std::shared_ptr<const Routes> routes) {
  routes_ = std::move(routes);
  started_ = SysClock::now();
  if (started_loop_) return;
  started_loop_ = true;
  asio::co_spawn(io_, loop(), asio::detached);
}

void RouteChecker::reload(std::shared_ptr<const Routes> routes) {
  routes_ = std::move(routes);
  wake();  // a new interval or new upstreams count from now, not from the next wake-up
}

void RouteChecker::stop() {
  if (stopping_) return;
  stopping_ = true;
  // A check may be in a phase that waits up to its time-out (a tarpit): shutdown must not.
  for (auto& [key, signal] : running_) signal->emit(asio::cancellation_type::terminal);
  wake();
}

void RouteChecker::wake() {
  wake_.cancel();
}

std::vector<RouteChecker::Target> RouteChecker::targets(const Routes& routes,
                                                        SysClock::time_point now) const {
  std::vector<Target> out;
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(routes.health.interval *
                                                                        kRememberedAnswerIntervals);
  for (std::size_t i = 0; i < routes.upstreams.size(); ++i) {
    const tls::UpstreamTarget& t = routes.upstreams[i].target;
    if (!t.connect_address.empty()) {
      out.push_back({i, t.connect_address, t.name + " " + t.connect_address});
      continue;
    }
    // The resolving check covers the address the connector picks; the others of the last
    // answer are checked each with its own connection.
    const std::string resolving = t.name + " ";
    out.push_back({i, "", resolving});
    const auto reached = resolved_to_.find(resolving);
    for (const std::string& a : sink_.health()->address_order(t.name, now, max_age)) {
      if (a.empty() || (reached != resolved_to_.end() && reached->second == a)) continue;
      out.push_back({i, a, t.name + " " + a});
    }
  }
  return out;
}

// The route's last attempt, ours or the mail's: mail that uses a route makes its check
// unnecessary.
std::optional<SysClock::time_point> RouteChecker::last_activity(const Routes& routes,
                                                                const Target& t,
                                                                SysClock::time_point now) const {
  std::optional<SysClock::time_point> last;
  if (auto it = last_checked_.find(t.key); it != last_checked_.end()) last = it->second;
  std::string address = t.address;
  if (address.empty()) {
    if (auto it = resolved_to_.find(t.key); it != resolved_to_.end()) address = it->second;
  }
  if (!address.empty()) {
    const auto seen = sink_.health()
                          ->address(routes.upstreams[t.upstream].target.name, address, now)
                          .last_attempt;
    if (seen && (!last || *seen > *last)) last = seen;
  }
  return last;
}

asio::awaitable<void> RouteChecker::loop() {
  while (!stopping_) {
    const std::shared_ptr<const Routes> routes = routes_;
    const auto now = SysClock::now();
    const auto interval = routes->health.interval;
    std::optional<SysClock::time_point> next;
    if (interval.count() > 0) {
      const std::vector<Target> list = targets(*routes, now);
      // Routes that are gone (reload, another DNS answer) are forgotten: bounded.
      const auto gone = [&](const auto& entry) {
        return std::none_of(list.begin(), list.end(),
                            [&](const Target& t) { return t.key == entry.first; });
      };
      std::erase_if(last_checked_, gone);
      std::erase_if(resolved_to_, gone);
      for (const Target& t : list) {
        if (running_.count(t.key)) continue;  // its end wakes the loop
        const auto due = schedule_.due(t.key, last_activity(*routes, t, now), started_, interval);
        if (due > now) {
          if (!next || due < *next) next = due;
        } else if (running_.size() < routes->health.concurrency) {
          launch(routes, t);
        }
        // Due but no room: the next check to end wakes the loop.
      }
    }
    if (next) {
      const auto wait =
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(*next - now);
      wake_.expires_after(std::max<std::chrono::steady_clock::duration>(wait, kMinSleep));
    } else {
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void RouteChecker::launch(const std::shared_ptr<const Routes>& routes, Target target) {
  auto signal = std::make_unique<asio::cancellation_signal>();
  auto slot = signal->slot();
  const std::string key = target.key;
  running_[key] = std::move(signal);
  asio::co_spawn(io_, check(routes, std::move(target)),
                 asio::bind_cancellation_slot(slot, [this, key](std::exception_ptr) {
                   // Not here: the signal is still in use while its operation completes.
                   asio::post(io_, [this, key] {
                     running_.erase(key);
                     last_checked_[key] = SysClock::now();
                     if (!stopping_) wake();
                   });
                 }));
}

asio::awaitable<void> RouteChecker::check(std::shared_ptr<const Routes> routes, Target target) {
  const UpstreamConfig& u = routes->upstreams[target.upstream];
  tls::AttemptOptions opt;
  opt.target = u.target;
  if (!target.address.empty()) opt.target.connect_address = target.address;
  opt.ehlo_name = routes->ehlo_name;
  opt.phase_timeout = u.phase_timeout;
  std::string secret_error;
  if (routes->health.auth) opt.credentials = read_credentials(u, secret_error);
  tls::AttemptResult result;
  if (!secret_error.empty()) {
    result.facts.started = std::chrono::system_clock::now();
    result.facts.upstream = opt.target;
    result.facts.phase = Phase::Auth;
    result.facts.ending = tls::Ending::LocalSetup;
    result.facts.local_detail = secret_error;
  } else {
    result = co_await tls::run_attempt(opt, u.context, u.context_error);
  }
  if (stopping_) co_return;  // cut short by shutdown: no evidence about the route
  const tls::Verdict verdict = tls::classify(result.facts);
  auto record = tls::attempt_record(result.facts, verdict);
  record["transaction"] = nullptr;
  record["check"] = true;
  record["policy_step"] = "check";
  record["profile"] = "default";
  if (target.address.empty() && !result.facts.network.address.empty()) {
    resolved_to_[target.key] = result.facts.network.address;
  }
  sink_.check(result.facts, verdict, record);
  if (result.stream) {
    // QUIT, never MAIL: the check is over once the route is open.
    UpstreamSession session(std::move(result.stream), std::move(result.facts));
    co_await session.quit();
  }
}

}  // namespace tlsrelay::proxy

#include "proxy/server/relay_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <iostream>
#include <random>

#include "config/loader.hpp"
#include "config/secret_file.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/status/status_routes.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(60);

config::IpAddress to_config_address(const asio::ip::address& a) {
  config::IpAddress out;
  if (a.is_v4()) {
    out.family = config::IpAddress::Family::V4;
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  } else {
    out.family = config::IpAddress::Family::V6;
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.bytes.begin());
  }
  return out;
}

tcp::endpoint to_endpoint(const config::SocketAddress& s) {
  return tcp::endpoint(asio::ip::make_address(s.address.to_string()), s.port);
}

std::string shown(const tcp::endpoint& e) {
  return e.address().is_v6() ? "[" + e.address().to_string() + "]:" + std::to_string(e.port())
                             : e.address().to_string() + ":" + std::to_string(e.port());
}

}  // namespace

std::size_t RelayServer::thread_count(const config::ProxySettings& proxy) {
  if (proxy.threads > 0) return proxy.threads;
  // The CPUs we may run on (taskset, systemd's CPUAffinity=, a container's cpuset), not
  // the machine's: more threads than those only take turns. At most the key's own bound.
  constexpr std::size_t kMostThreads = 256;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  std::size_t n = std::max(1u, std::thread::hardware_concurrency());
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0) {
    n = static_cast<std::size_t>(CPU_COUNT(&cpus));
  }
  return std::min(n, kMostThreads);
}

RelayServer::RelayServer(asio::io_context& io, std::shared_ptr<const RelayConfig> config,
                         std::string config_path)
    : io_(io),
      config_(config),
      config_path_(std::move(config_path)),
      signals_(io, SIGTERM, SIGINT, SIGHUP),
      shutdown_timer_(io) {
  telemetry_ = std::make_unique<Telemetry>(config->settings.log.events.value_or(""),
                                           config->settings.policy.hold_down,
                                           config->settings.health.certificate_warn_days);
  telemetry_->health()->set_recurrence(config->settings.health_recurrence);
  checker_ = std::make_unique<RouteChecker>(io_, *telemetry_, std::random_device{}());
  workers_.push_back(std::make_unique<Worker>(io_));
  const std::size_t threads = thread_count(config->settings.proxy);
  for (std::size_t i = 1; i < threads; ++i) {
    auto& worker = *workers_.emplace_back(std::make_unique<Worker>());
    // A thread with no session yet must not run out of work and return.
    busy_.push_back(asio::make_work_guard(worker.io));
  }
  signals_.add(SIGUSR1);
  telemetry_->metrics()->config_loaded(true, SysClock::now());
}

RelayServer::~RelayServer() {
  // After a graceful stop the threads have only pooled connections left to close (QUIT,
  // bounded by their deadlines); anything else — the grace period over, an exception out
  // of the home loop — stops them now.
  if (!(stopping_ && sessions_.empty())) cut_off();
  busy_.clear();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void RelayServer::cut_off() {
  for (auto& w : workers_) w->io.stop();
}

std::size_t RelayServer::pooled_connections() const {
  std::size_t n = 0;
  for (const auto& w : workers_) n += w->pool.size();
  return n;
}

template <class F>
void RelayServer::each_pool(F f) {
  for (auto& w : workers_) {
    asio::post(w->io, [f, pool = &w->pool] { f(*pool); });
  }
}

void RelayServer::start() {
  const auto config = config_.get();
  for (const auto& l : config->settings.proxy.listen) {
    tcp::endpoint ep = to_endpoint(l);
    auto& acc = acceptors_.emplace_back(io_);
    acc.open(ep.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    if (ep.address().is_v6()) acc.set_option(asio::ip::v6_only(true));
    acc.bind(ep);
    acc.listen(asio::socket_base::max_listen_connections);
    const std::string bound = shown(acc.local_endpoint());
    std::cout << "listening " << bound << std::endl;
    log_line("", LogFields("listening").add("address", bound));
    asio::co_spawn(io_, accept_loop(acc), asio::detached);
  }
  if (const auto& where = config->settings.http.listen) {
    auto sources = [this] {
      const auto now_in_force = config_.get();
      return StatusSources{now_in_force->routes, now_in_force->settings.http.address_labels};
    };
    http_ = std::make_unique<HttpServer>(
        io_, status_routes(sources, *telemetry_, [this] { return pooled_connections(); }),
        HostAllowList(config->settings.http.allowed_hosts));
    const std::string bound = shown(http_->start(to_endpoint(*where)));
    std::cout << "http " << bound << std::endl;
    log_line("", LogFields("http-listening").add("address", bound));
  }
  // Bound to the privileged ports as root; give up root now (Postfix's master does the same).
  if (const auto& user = config->settings.proxy.user) {
    const passwd* pw = getpwnam(user->c_str());
    if (!pw) throw std::runtime_error("[proxy] user \"" + *user + "\" does not exist");
    // Already that user (systemd's User=, or runuser): nothing to give up, and setgroups
    // would fail without CAP_SETGID.
    const bool already = getuid() == pw->pw_uid && geteuid() == pw->pw_uid &&
                         getgid() == pw->pw_gid && getegid() == pw->pw_gid;
    if (!already &&
        (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)) {
      throw std::runtime_error("cannot switch to user " + *user);
    }
    // Secrets are read at each use, now as this user: find out here, not at the first
    // message, when one is unreadable.
    for (const auto& u : config->routes->upstreams) {
      if (!u.auth_user) continue;
      try {
        (void)config::read_secret(u.password_file);
      } catch (const std::exception& e) {
        throw std::runtime_error("after switching to user " + *user + ": " + e.what());
      }
    }
  }
  note_own_certificate();
  checker_->start(config->routes);
  wait_signals();
  // Only now, as the user we switched to (setuid applies to every thread, but a thread
  // started before it would have run as root for a moment).
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    workers_[i]->thread = std::thread([loop = &workers_[i]->io] {
      // As on home (serve_command): an exception out of a handler is a bug; it is logged
      // and the loop goes on, since its sessions' clients would otherwise hang.
      for (;;) {
        try {
          loop->run();
          return;
        } catch (const std::exception& e) {
          log_line("", LogFields("thread-error").add("error", e.what()));
        }
      }
    });
  }
  log_line("", LogFields("threads").add("count", workers_.size()));
}

void RelayServer::note_own_certificate() {
  const auto config = config_.get();
  telemetry_->certificates()->set_thresholds(config->settings.health.certificate_warn_days);
  telemetry_->own_certificate(config->server_tls ? config->server_tls->not_after() : std::nullopt);
}

void RelayServer::wait_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
      wait_signals();
    } else if (sig == SIGUSR1) {
      // logrotate: the event log was moved away; start a new one at the same path.
      std::string why = telemetry_->events().reopen();
      LogFields fields("reopen");
      fields.add("status", why.empty() ? "ok" : "failed");
      if (!why.empty()) fields.add("reason", why);
      log_line("", fields);
      wait_signals();
    } else {
      stop();
    }
  });
}

void RelayServer::reload() {
  try {
    auto fresh = make_relay_config(config::load_settings(config_path_));
    const auto old = config_.get();
    if (fresh->settings.proxy.listen != old->settings.proxy.listen) {
      log_line("", LogFields("reload").add("warning", "listen addresses change only on restart"));
    }
    if (thread_count(fresh->settings.proxy) != workers_.size()) {
      log_line("", LogFields("reload").add("warning", "threads change only on restart"));
    }
    config_.set(fresh);
    {
      auto health = telemetry_->health();
      health->set_hold_down(fresh->settings.policy.hold_down);
      health->set_recurrence(fresh->settings.health_recurrence);
    }
    if (http_) http_->set_allowed_hosts(HostAllowList(fresh->settings.http.allowed_hosts));
    // Connections opened under the old config are not reused.
    each_pool([](UpstreamPool& pool) { pool.clear(); });
    note_own_certificate();
    checker_->reload(fresh->routes);
    telemetry_->metrics()->config_loaded(true, SysClock::now());
    log_line(
        "",
        LogFields("reload").add("status", "ok").add("upstreams", fresh->routes->upstreams.size()));
  } catch (const std::exception& e) {
    std::string why = e.what();
    for (auto& c : why) c = c == '\n' ? ';' : c;
    telemetry_->metrics()->config_loaded(false, SysClock::now());
    log_line(
        "",
        LogFields("reload").add("status", "rejected").add("reason", why).add("kept", "old-config"));
  }
}

void RelayServer::stop() {
  if (stopping_) return;
  stopping_ = true;
  log_line("", LogFields("stopping").add("sessions", sessions_.size()));
  for (auto& a : acceptors_) {
    boost::system::error_code ignored;
    a.close(ignored);
  }
  if (http_) http_->stop();
  each_pool([](UpstreamPool& pool) { pool.shutdown(); });
  checker_->stop();
  signals_.cancel();
  for (auto& [id, t] : sessions_) {
    asio::dispatch(t.executor, [weak = t.session] {
      if (auto s = weak.lock()) s->request_stop();
    });
  }
  // Bounded: whatever is still running after the grace period is cut off.
  shutdown_timer_.expires_after(kShutdownGrace);
  shutdown_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) cut_off();
  });
  if (sessions_.empty()) shutdown_timer_.cancel();
}

bool RelayServer::allowed(const config::ProxySettings& proxy, const asio::ip::address& a) const {
  const config::IpAddress ip = to_config_address(a);
  for (const auto& cidr : proxy.allow_clients) {
    if (cidr.contains(ip)) return true;
  }
  return false;
}

// Counts this connection in the client's sliding minute; false when it is one too many.
bool RelayServer::within_rate(const config::ProxySettings& proxy, const std::string& client) {
  const std::uint64_t limit = proxy.max_connection_rate_per_client;
  if (limit == 0) return true;
  const auto now = std::chrono::steady_clock::now();
  const auto minute_ago = now - std::chrono::minutes(1);
  // Forget clients that have been quiet for a minute, so the table stays small.
  if (recent_connects_.size() > kMaxRateClients) {
    std::erase_if(recent_connects_, [&](const auto& entry) {
      return entry.second.empty() || entry.second.back() < minute_ago;
    });
  }
  auto& times = recent_connects_[client];
  while (!times.empty() && times.front() < minute_ago) times.pop_front();
  if (times.size() >= limit) return false;
  times.push_back(now);
  return true;
}

// Full, and a client is at the door: the session that has waited longest for a command
// outside a transaction makes room (421). Slow or silent clients (slowloris) hold nothing
// else, and the longest waiter is one of them long before it is a working MTA, whose
// commands come in milliseconds; a session in a transaction is never chosen.
// The session may be on another thread: its mark is claimed here (no second eviction picks
// it) and evict() runs on its own loop (at once when that is home's). If by then it is in a
// transaction it declines, and this newcomer was let in one over the limit: rare, and gone
// with the next session's end.
bool RelayServer::evict_one() {
  const Tracked* oldest = nullptr;
  std::chrono::steady_clock::time_point since;
  for (const auto& [id, t] : sessions_) {
    // Ended on its thread, its end not yet counted here: a free slot already.
    if (t.session.expired()) return true;
    const auto waiting = t.mark->waiting_since();
    if (waiting && (!oldest || *waiting < since)) {
      oldest = &t;
      since = *waiting;
    }
  }
  if (!oldest || !oldest->mark->claim()) return false;
  asio::dispatch(oldest->executor, [weak = oldest->session] {
    if (auto s = weak.lock()) s->evict();
  });
  return true;
}

asio::awaitable<void> RelayServer::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    // Straight onto the next thread's event loop: the session lives there. (Chosen before
    // the wait, so that two listeners do not pick the same one.)
    Worker& worker = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    auto [ec, socket] =
        co_await acceptor.async_accept(worker.io, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      log_line("", LogFields("accept-failed").add("error", ec.message()));
      // Out of descriptors the listener stays readable: pause instead of spinning.
      asio::steady_timer pause(acceptor.get_executor());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;
    const std::string client = peer.address().to_string();
    const auto config = config_.get();
    const auto& proxy = config->settings.proxy;
    // Never an open relay: clients outside allow_clients are refused before any dialogue.
    std::string refusal;
    if (!allowed(proxy, peer.address())) {
      refusal = to_wire(client_refused_reply(client));
      log_line("",
               LogFields("refused").add("client", client).add("reason", "not-in-allow_clients"));
      telemetry_->metrics()->client_refused("not-allowed");
    } else if (!within_rate(proxy, client)) {
      refusal = to_wire(connection_rate_reply(proxy.hostname, client));
      log_line("", LogFields("refused").add("client", client).add("reason", "connection-rate"));
      telemetry_->metrics()->client_refused("connection-rate");
    } else if (per_client_[client] >= proxy.max_connections_per_client ||
               (sessions_.size() >= proxy.max_connections && !evict_one())) {
      refusal = to_wire(connection_limit_reply(proxy.hostname));
      log_line("", LogFields("refused").add("client", client).add("reason", "connection-limit"));
      telemetry_->metrics()->client_refused("connection-limit");
    }
    if (!refusal.empty()) {
      boost::system::error_code ignored;
      asio::write(socket, asio::buffer(refusal), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      continue;
    }
    // Replies are small and the client waits for each (or, pipelining, for a group): Nagle
    // would hold a reply back until the client's delayed ACK, ~40 ms a message (found by
    // bench/: Postfix through tlsrelay spent 46 ms per message sending, 5 ms without).
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    const SessionId id = ++next_id_;
    char shown_id[32];
    std::snprintf(shown_id, sizeof shown_id, "%lx", id);
    auto session = std::make_shared<ServerSession>(std::move(socket), config_, *telemetry_,
                                                   worker.pool, shown_id);
    sessions_[id] = Tracked{session, session->mark(), worker.io.get_executor()};
    ++per_client_[client];
    asio::co_spawn(worker.io, run_session(std::move(session), id, client), asio::detached);
  }
}

asio::awaitable<void> RelayServer::run_session(std::shared_ptr<ServerSession> session, SessionId id,
                                               std::string client) {
  telemetry_->metrics()->client_session_opened();
  try {
    co_await session->run();
  } catch (const std::exception& e) {
    // A bug must cost one session, never the slot accounting (or the daemon).
    log_line(session->id(), LogFields("session-error").add("error", e.what()));
  }
  telemetry_->metrics()->client_session_closed();
  // Gone here, on its own thread, before home counts it out.
  session.reset();
  asio::post(io_, [this, id, client = std::move(client)] { session_ended(id, client); });
}

void RelayServer::session_ended(SessionId id, const std::string& client) {
  sessions_.erase(id);
  if (--per_client_[client] == 0) per_client_.erase(client);
  if (stopping_ && sessions_.empty()) shutdown_timer_.cancel();
}

}  // namespace tlsrelay::proxy

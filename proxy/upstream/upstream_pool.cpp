#include "proxy/upstream/upstream_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> quit_and_close(std::unique_ptr<UpstreamSession> session) {
  co_await session->quit();
}

constexpr auto kSweepEvery = std::chrono::seconds(1);

}  // namespace

UpstreamPool::UpstreamPool(asio::io_context& io) : io_(io), sweeper_(io) {}

std::unique_ptr<UpstreamSession> UpstreamPool::take(const std::string& upstream,
                                                    const Routes* config) {
  auto it = idle_.find(upstream);
  if (it == idle_.end()) return nullptr;
  auto& q = it->second;
  const auto now = Clock::now();
  while (!q.empty()) {
    Idle idle = std::move(q.back());  // the most recently used: least likely to be dead
    q.pop_back();
    if (idle.config.get() == config && !idle.session->broken() && still_usable(idle, now)) {
      recount();
      return std::move(idle.session);
    }
    close(std::move(idle.session));
  }
  recount();
  return nullptr;
}

void UpstreamPool::give(std::unique_ptr<UpstreamSession> session,
                        std::shared_ptr<const Routes> config) {
  const Routes& proxy = *config;
  const std::string name = session->facts().upstream.name;
  auto& q = idle_[name];
  if (closed_ || session->broken() || !session->reusable() || proxy.pool_size_per_upstream == 0 ||
      proxy.idle_upstream.count() == 0 ||
      Clock::now() - session->opened_at() >= proxy.reuse_time_limit) {
    close(std::move(session));
    return;
  }
  if (q.size() >= proxy.pool_size_per_upstream) {
    close(std::move(q.front().session));  // the oldest goes
    q.pop_front();
  }
  q.push_back({std::move(session), std::move(config), Clock::now()});
  recount();
  arm();
}

void UpstreamPool::clear() {
  for (auto& [name, q] : idle_) {
    for (auto& idle : q) close(std::move(idle.session));
  }
  idle_.clear();
  recount();
  sweeper_.cancel();
}

void UpstreamPool::recount() {
  std::size_t n = 0;
  for (const auto& [name, q] : idle_) n += q.size();
  kept_.store(n, std::memory_order_relaxed);
}

void UpstreamPool::close(std::unique_ptr<UpstreamSession> session) {
  if (!session) return;
  asio::co_spawn(io_, quit_and_close(std::move(session)), asio::detached);
}

void UpstreamPool::arm() {
  if (armed_) return;
  armed_ = true;
  sweeper_.expires_after(kSweepEvery);
  sweeper_.async_wait([this](const boost::system::error_code& ec) {
    armed_ = false;
    if (ec) return;
    sweep();
  });
}

bool UpstreamPool::still_usable(const Idle& idle, Clock::time_point now) {
  const Routes& proxy = *idle.config;
  return now - idle.since < proxy.idle_upstream &&
         now - idle.session->opened_at() < proxy.reuse_time_limit;
}

void UpstreamPool::sweep() {
  const auto now = Clock::now();
  bool any = false;
  for (auto& [name, q] : idle_) {
    // Any entry may have reached its age limit, not only the longest idle one.
    for (auto it = q.begin(); it != q.end();) {
      if (still_usable(*it, now)) {
        ++it;
        continue;
      }
      close(std::move(it->session));
      it = q.erase(it);
    }
    any = any || !q.empty();
  }
  recount();
  if (any) arm();
}

}  // namespace tlsrelay::proxy

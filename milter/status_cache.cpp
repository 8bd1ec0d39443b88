#include "milter/status_cache.hpp"

#include "milter/status_client.hpp"

namespace tlsrelay::milter {

StatusCache::StatusCache(Fetch fetch, Clock::duration max_age, Now now)
    : fetch_(std::move(fetch)), max_age_(max_age), now_(std::move(now)) {}

StatusReading StatusCache::get() {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  if (!have_ || now - fetched_at_ >= max_age_) {
    StatusReading fresh;
    try {
      fresh = fetch_();
    } catch (const std::exception& e) {
      // Called from libmilter threads: nothing may escape (a bad_alloc while parsing).
      fresh = StatusReading{std::nullopt, std::string("status fetch failed: ") + e.what()};
    }
    reading_ = std::move(fresh);
    // Age counts from the end of the fetch: a slow fetch does not make the next one due.
    fetched_at_ = now_();
    have_ = true;
    ++fetches_;
  }
  return reading_;
}

std::uint64_t StatusCache::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

StatusReading fetch_status(const std::string& host, std::uint16_t port, const std::string& target,
                           std::chrono::milliseconds timeout) {
  HttpResult r = http_get(HttpTarget{host, port, target}, timeout);
  if (!r.ok) return StatusReading{std::nullopt, std::move(r.problem)};
  return parse_status_document(r.body);
}

}  // namespace tlsrelay::milter

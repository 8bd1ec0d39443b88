#include "proxy/status/certificate_expiry.hpp"

#include <algorithm>

namespace tlsrelay::proxy {

std::optional<int> threshold_crossed(const std::vector<int>& thresholds, double days_left,
                                     std::optional<int> warned) {
  std::optional<int> lowest;
  for (int t : thresholds) {
    if (days_left <= t && (!lowest || t < *lowest)) lowest = t;
  }
  if (!lowest || (warned && *lowest >= *warned)) return std::nullopt;
  return lowest;
}

std::optional<std::int64_t> earliest_not_after(const std::vector<tls::CertFacts>& chain) {
  std::optional<std::int64_t> earliest;
  for (const auto& c : chain) {
    // 0: a time OpenSSL could not read; no evidence of anything.
    if (c.not_after_epoch != 0 && (!earliest || c.not_after_epoch < *earliest)) {
      earliest = c.not_after_epoch;
    }
  }
  return earliest;
}

double days_left(std::int64_t not_after, SysClock::time_point now) {
  const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  return (static_cast<double>(not_after) - now_s) / 86400.0;
}

std::optional<int> CertificateExpiry::update(Entry& e, std::int64_t not_after,
                                             SysClock::time_point now) {
  if (e.not_after != not_after) {
    e.not_after = not_after;
    e.warned.reset();  // a renewed (or another) certificate: its own warnings
  }
  e.seen = now;
  auto warn = threshold_crossed(thresholds_, days_left(not_after, now), e.warned);
  if (warn) e.warned = warn;
  return warn;
}

std::optional<int> CertificateExpiry::record(const std::string& upstream,
                                             const std::string& address, std::int64_t not_after,
                                             SysClock::time_point now) {
  auto key = std::make_pair(upstream, address);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxEntries) {
      // Rotating DNS answers must not grow this: the least recently seen route goes.
      auto oldest = std::min_element(
          entries_.begin(), entries_.end(),
          [](const auto& a, const auto& b) { return a.second.seen < b.second.seen; });
      entries_.erase(oldest);
    }
    it = entries_.emplace(std::move(key), Entry{}).first;
  }
  return update(it->second, not_after, now);
}

std::optional<int> CertificateExpiry::record_own(std::optional<std::int64_t> not_after,
                                                 SysClock::time_point now) {
  if (!not_after) {
    own_.reset();
    return std::nullopt;
  }
  if (!own_) own_.emplace();
  return update(*own_, *not_after, now);
}

const CertificateExpiry::Entry* CertificateExpiry::find(const std::string& upstream,
                                                        const std::string& address) const {
  auto it = entries_.find({upstream, address});
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace tlsrelay::proxy

// The relay's view of its configuration: what the daemon needs at run time, built once from
// config::Settings and then shared read-only by every session until a reload replaces it.
// The upstream side's part (upstreams with their TLS contexts, policy, pool limits) is
// Routes (upstream/routes.hpp), which route, pool and status read without knowing the rest.
//
// RelayConfig is immutable after construction and thread-safe to share; ConfigSlot, the
// one in force, is read by every thread and replaced by a reload under its own mutex.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "proxy/server/server_fsm.hpp"
#include "proxy/server/server_tls.hpp"
#include "proxy/upstream/routes.hpp"

namespace tlsrelay::proxy {

struct RelayConfig {
  // Distinct for every configuration made (start, each reload): what was opened under an
  // older one is not used for a new message.
  std::uint64_t generation = 0;
  config::Settings settings;
  ServerOptions server;
  std::shared_ptr<const ServerTls> server_tls;  // STARTTLS to our clients; null when off
  std::shared_ptr<const Routes> routes;         // the upstream side's share (same generation)
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_block_timeout{180000};
  std::chrono::milliseconds data_done_timeout{600000};
};

// The configuration in force. A session takes a copy at each transaction's start and keeps
// it to the end, so a reload never changes a transaction under way.
class ConfigSlot {
 public:
  explicit ConfigSlot(std::shared_ptr<const RelayConfig> config) : config_(std::move(config)) {}
  std::shared_ptr<const RelayConfig> get() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  // The old configuration is released on return, outside the lock.
  void set(std::shared_ptr<const RelayConfig> config) {
    std::lock_guard lock(mutex_);
    config_.swap(config);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RelayConfig> config_;
};

// Throws config::ConfigError when something cannot be used (e.g. a password file).
std::shared_ptr<const RelayConfig> make_relay_config(config::Settings settings);

}  // namespace tlsrelay::proxy

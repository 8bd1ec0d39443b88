// One open upstream connection in a transaction: sends a command, reads its whole reply,
// each with a deadline; streams message data. What comes back is an UpstreamOutcome: the
// reply as a value, or the raw loss (socket error, deadline), which client_fsm.hpp judges.
//
// Not thread-safe; owned by one client session, used from its executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/smtp_reply.hpp"
#include "proxy/upstream/client_fsm.hpp"
#include "tls/attempt.hpp"
#include "tls/deadline.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::proxy {

// Which TLS profile the route used: the normal one, or a fallback the policy allowed for one
// message (the compat profile, or plaintext).
enum class RouteProfile { Normal, Compat, Plaintext };
std::string_view to_string(RouteProfile p);

class UpstreamSession {
 public:
  UpstreamSession(std::unique_ptr<tls::SmtpStream> stream, tls::AttemptFacts facts);
  ~UpstreamSession();

  // Sends one command line (without CRLF) and reads the reply within `timeout`.
  boost::asio::awaitable<UpstreamOutcome> command(std::string line,
                                                  std::chrono::milliseconds timeout);
  // Reads one reply (e.g. the final reply after the dot). On a connection already broken:
  // a loss without an error (connection-closed).
  boost::asio::awaitable<UpstreamOutcome> reply(std::chrono::milliseconds timeout);
  // Writes raw bytes (message data) within `timeout`; false when the connection failed.
  boost::asio::awaitable<bool> write(std::string_view bytes, std::chrono::milliseconds timeout);
  // QUIT politely, or just close after a failure.
  boost::asio::awaitable<void> quit();
  boost::asio::awaitable<void> abort();

  const tls::AttemptFacts& facts() const { return facts_; }
  // "gmail smtp.gmail.com[142.250.102.108]:587"
  std::string describe() const;
  bool broken() const { return broken_; }
  // Once broken by a failed read or write: how (the socket error, whether our deadline
  // fired); loss_class() in client_fsm.hpp says what it means.
  const UpstreamLoss& loss() const { return loss_; }
  RouteProfile profile() const { return profile_; }
  void set_profile(RouteProfile p) { profile_ = p; }
  // Opened with the upstream's normal profile, so the pool may keep it (upstream_pool.hpp)
  // and a later message may use it.
  bool reusable() const { return profile_ == RouteProfile::Normal; }
  // The configuration it was opened under (RelayConfig::generation): after a reload a
  // connection of the old one serves no new message.
  std::uint64_t config_generation() const { return config_generation_; }
  void set_config_generation(std::uint64_t g) { config_generation_ = g; }
  // When the connection was handed over open (greeted, TLS verified, authenticated).
  std::chrono::steady_clock::time_point opened_at() const { return opened_at_; }

 private:
  std::unique_ptr<tls::SmtpStream> stream_;
  tls::AttemptFacts facts_;
  tls::Deadline deadline_;
  void lose(const boost::system::error_code& ec);

  bool broken_ = false;
  UpstreamLoss loss_;
  RouteProfile profile_ = RouteProfile::Normal;
  std::uint64_t config_generation_ = 0;
  std::chrono::steady_clock::time_point opened_at_ = std::chrono::steady_clock::now();
};

}  // namespace tlsrelay::proxy

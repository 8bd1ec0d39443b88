// One open upstream connection in a transaction: sends a command, reads its whole reply,
// each with a deadline; streams message data. Replies come back as values; I/O failures
// come back as an error the session turns into the policy's reply.
//
// Not thread-safe; owned by one client session, used from its executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/failure_class.hpp"
#include "common/smtp_reply.hpp"
#include "tls/attempt.hpp"
#include "tls/deadline.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::proxy {

struct UpstreamReply {
  std::optional<Reply> reply;  // empty when the connection failed or timed out
  bool timed_out = false;
  // Without a reply: what happened, as a failure class (connection-reset, connection-closed
  // or timeout), so that the reply to our client names it like every other deferral.
  FailureClass lost = FailureClass::ConnectionClosed;
};

// Which TLS profile the route used: the normal one, or a fallback the policy allowed for one
// message (the compat profile, or plaintext).
enum class RouteProfile { Normal, Compat, Plaintext };
std::string_view to_string(RouteProfile p);

class UpstreamSession {
 public:
  UpstreamSession(std::unique_ptr<tls::SmtpStream> stream, tls::AttemptFacts facts);
  ~UpstreamSession();

  // Sends one command line (without CRLF) and reads the reply within `timeout`.
  boost::asio::awaitable<UpstreamReply> command(std::string line,
                                                std::chrono::milliseconds timeout);
  // Reads one reply (e.g. the final reply after the dot).
  boost::asio::awaitable<UpstreamReply> reply(std::chrono::milliseconds timeout);
  // Writes raw bytes (message data) within `timeout`; false when the connection failed.
  boost::asio::awaitable<bool> write(std::string_view bytes, std::chrono::milliseconds timeout);
  // QUIT politely, or just close after a failure.
  boost::asio::awaitable<void> quit();
  boost::asio::awaitable<void> abort();

  const tls::AttemptFacts& facts() const { return facts_; }
  // "gmail smtp.gmail.com[142.250.102.108]:587"
  std::string describe() const;
  bool broken() const { return broken_; }
  // Once broken: how the connection was lost (connection-reset, -closed or timeout).
  FailureClass lost() const { return lost_; }
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
  FailureClass lost_ = FailureClass::ConnectionClosed;
  RouteProfile profile_ = RouteProfile::Normal;
  std::uint64_t config_generation_ = 0;
  std::chrono::steady_clock::time_point opened_at_ = std::chrono::steady_clock::now();
};

}  // namespace tlsrelay::proxy

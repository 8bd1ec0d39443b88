// One client connection from the local MTA: reads its commands, runs them through the
// ServerFsm, relays MAIL/RCPT/DATA to the upstream in lockstep and answers with the
// upstream's own replies — 250 to a message only after the upstream's 250 to it.
//
// Owned by its coroutine (co_spawned by the RelayServer); every read and write has a
// deadline. Not thread-safe: all of it runs on one executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "proxy/event_log.hpp"
#include "proxy/relay_config.hpp"
#include "proxy/route.hpp"
#include "proxy/server_fsm.hpp"
#include "tls/deadline.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::proxy {

class ServerSession {
 public:
  ServerSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<const RelayConfig> config,
                Telemetry& telemetry, UpstreamPool& pool, std::string id);

  boost::asio::awaitable<void> run();
  // Graceful shutdown: an idle client gets 421 now, a transaction in flight finishes first.
  void request_stop();

  const std::string& id() const { return id_; }

 private:
  boost::asio::awaitable<bool> send(const Reply& reply);
  boost::asio::awaitable<bool> relay_mail(const MailParams& mail);
  boost::asio::awaitable<bool> relay_rcpt(const RcptParams& rcpt);
  boost::asio::awaitable<bool> relay_data();
  boost::asio::awaitable<void> drop_upstream(bool polite);
  boost::asio::awaitable<void> reset_upstream();
  // At the end of the client session: a clean upstream connection goes to the pool.
  boost::asio::awaitable<void> release_upstream();
  void log_transaction(const Reply& final_reply, std::uint64_t size);

  tls::SmtpStream client_;
  tls::Deadline deadline_;
  std::shared_ptr<const RelayConfig> config_;
  Telemetry& telemetry_;
  UpstreamPool& pool_;
  std::string id_;
  std::string peer_;
  ServerFsm fsm_;
  std::unique_ptr<UpstreamSession> upstream_;
  std::vector<FailedAttempt> failures_;  // this transaction's failed attempts, for headers
  std::string transaction_id_;
  unsigned transactions_ = 0;
  std::chrono::steady_clock::time_point transaction_start_;
  bool idle_ = false;
  bool stopping_ = false;
};

}  // namespace tlsrelay::proxy

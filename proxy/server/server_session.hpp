// One client connection from the local MTA: reads its commands, runs them through the
// ServerFsm, relays MAIL/RCPT/DATA to the upstream in lockstep and answers with the
// upstream's own replies — 250 to a message only after the upstream's 250 to it. An
// upstream lost before our final dot may be replaced mid-transaction where the policy
// allows (server_session_replay.cpp).
//
// Owned by its coroutine (co_spawned by the RelayServer); every read and write has a
// deadline. Not thread-safe: all of it runs on one executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/server/command_parser.hpp"
#include "proxy/server/data_reader.hpp"
#include "proxy/server/data_writer.hpp"
#include "proxy/server/relay_config.hpp"
#include "proxy/server/replay_buffer.hpp"
#include "proxy/server/server_fsm.hpp"
#include "proxy/server/trace_headers.hpp"
#include "proxy/status/event_log.hpp"
#include "proxy/status/telemetry.hpp"
#include "proxy/upstream/route.hpp"
#include "tls/deadline.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::proxy {

class ServerSession {
 public:
  // `current` is the relay's configuration as reloads replace it (it outlives the session):
  // each transaction starts under the one current then.
  ServerSession(boost::asio::ip::tcp::socket socket,
                const std::shared_ptr<const RelayConfig>& current, Telemetry& telemetry,
                UpstreamPool& pool, std::string id);

  boost::asio::awaitable<void> run();
  // Graceful shutdown: an idle client gets 421 now, a transaction in flight finishes first.
  void request_stop();
  // Since when the session has been waiting for a command line outside a transaction (it
  // holds nothing but its slot); unset while it works or is in a transaction.
  std::optional<std::chrono::steady_clock::time_point> waiting_since() const {
    return waiting_since_;
  }
  // The relay is full and a new client came: 421 and close, if still waiting (slowloris).
  void evict();

  const std::string& id() const { return id_; }

 private:
  // Writes one reply within `timeout` (0: command_s).
  boost::asio::awaitable<bool> send(
      const Reply& reply, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  boost::asio::awaitable<bool> relay_mail(const MailParams& mail);
  boost::asio::awaitable<bool> relay_rcpt(const RcptParams& rcpt);
  boost::asio::awaitable<bool> relay_data();
  boost::asio::awaitable<bool> relay_bdat(const BdatParams& bdat);
  // RFC 3030 2: a refused BDAT's octets are read and dropped, then `reply` is sent.
  boost::asio::awaitable<bool> discard_bdat(const BdatParams& bdat, const Reply& reply);
  // RSET, EHLO or the end of the session in the middle of BDAT chunks: the upstream is in
  // its DATA phase and must never get a final dot, so it is closed, not RSET.
  boost::asio::awaitable<void> abandon_bdat();
  // STARTTLS (RFC 3207): 220, every plaintext byte after the command dropped, handshake.
  boost::asio::awaitable<bool> start_tls(const Reply& ready, CommandReader& commands);
  // DATA upstream up to its 354; the reply for our client when that failed.
  boost::asio::awaitable<std::optional<Reply>> open_upstream_data();
  // The upstream's reply to our final dot, as the reply for our client.
  boost::asio::awaitable<Reply> upstream_final_reply();
  void write_trace_headers(DataWriter& writer) const;
  // Our DATA octets in `out` go upstream, the message part (from `content_from`, past our
  // trace headers) kept for a replay first; `last`: the message ends here (final dot).
  // False when the upstream was lost and could not be replaced (replay_failure_ says why).
  boost::asio::awaitable<bool> flush_data(std::string& out, DataWriter& writer,
                                          std::size_t& content_from, bool last);
  // The upstream was lost during `stage`, before our final dot: where the policy allows,
  // open a new route and replay MAIL, the accepted RCPTs and, `in_data`, DATA with our
  // trace headers and the data so far (server_session_replay.cpp). True when the new
  // upstream stands where the old one stood; otherwise `reply` (the loss) is replaced by
  // what stopped the replay, if one was tried, and there is no upstream.
  boost::asio::awaitable<bool> replace_upstream(const std::string& stage, FailureClass lost,
                                                Reply& reply, bool in_data);
  boost::asio::awaitable<std::optional<std::string>> replay_envelope(
      bool in_data, std::chrono::steady_clock::time_point deadline);
  DataLimits data_limits() const;
  boost::asio::awaitable<void> keep_upstream_only_if_reusable();
  boost::asio::awaitable<void> drop_upstream(bool polite);
  boost::asio::awaitable<void> reset_upstream();
  // At the end of the client session: a clean upstream connection goes to the pool.
  boost::asio::awaitable<void> release_upstream();
  boost::asio::awaitable<void> abandon_message(const char* why, std::uint64_t size);
  void log_transaction(const Reply& final_reply, std::uint64_t size);
  // The transaction is over, however it ended: the state machine moves on, the replay copy
  // of its data goes.
  void end_transaction();

  tls::SmtpStream client_;
  tls::Deadline deadline_;
  const std::shared_ptr<const RelayConfig>& current_config_;
  std::shared_ptr<const RelayConfig> config_;
  Telemetry& telemetry_;
  UpstreamPool& pool_;
  std::string id_;
  std::string peer_;
  ServerFsm fsm_;
  std::unique_ptr<UpstreamSession> upstream_;
  // A BDAT transaction between its first chunk and its LAST (RFC 3030), relayed as DATA.
  struct BdatTransfer {
    explicit BdatTransfer(const DataLimits& limits) : reader(limits) {}
    BdatReader reader;
    std::string out;  // our DATA octets not yet written upstream
    DataWriter writer{out};
    ClientHeaderGuard guard;
    std::size_t content_from = 0;  // where the message starts in `out` (after trace headers)
    bool data_open = false;        // the upstream said 354 and has not had its final dot
  };
  std::unique_ptr<BdatTransfer> bdat_;
  // This transaction as the upstream accepted it, for a replay on another connection.
  std::vector<RcptParams> accepted_rcpts_;
  ReplayBuffer replay_;
  int replays_ = 0;
  std::optional<Reply> replay_failure_;  // set when a replay in the data phase failed
  std::string client_tls_;  // "TLSv1.3/TLS_AES_..." after STARTTLS, for the transaction log
  std::vector<FailedAttempt> failures_;  // this transaction's failed attempts, for headers
  std::string transaction_id_;
  unsigned transactions_ = 0;
  std::chrono::steady_clock::time_point transaction_start_;
  bool idle_ = false;
  bool stopping_ = false;
  bool evicted_ = false;
  std::optional<std::chrono::steady_clock::time_point> waiting_since_;
};

}  // namespace tlsrelay::proxy

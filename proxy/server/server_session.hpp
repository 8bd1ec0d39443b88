// One client connection from the local MTA: reads its commands, runs them through the
// ServerFsm, relays MAIL/RCPT/DATA to the upstream in lockstep and answers with the
// upstream's own replies — 250 to a message only after the upstream's 250 to it. An
// upstream lost before our final dot may be replaced mid-transaction where the policy
// allows.
//
// The session reads and dispatches; what the upstream's answers mean is client_fsm's
// judge(), what to do about a lost upstream is the policy's replay_bar(), every reply we
// write is policy/replies.hpp. Its files, by concern:
//   server_session.cpp          commands: reading, dispatching, STARTTLS, the session's end
//   server_session_upstream.cpp MAIL and RCPT in lockstep; the upstream connection's life
//   server_session_data.cpp     the message: one streaming loop for DATA and BDAT
//   server_session_replay.cpp   a lost upstream replaced mid-transaction
//
// Owned by its coroutine (co_spawned by the RelayServer on one of its threads); every read
// and write has a deadline. Not thread-safe: all of it runs on its socket's executor. What
// the relay's home thread may see of it from there is its SessionMark (thread-safe).
#pragma once

#include <atomic>
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
#include "proxy/upstream/client_fsm.hpp"
#include "proxy/upstream/route.hpp"
#include "tls/deadline.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::proxy {

// Since when a session has been waiting for a command line outside a transaction (it holds
// nothing but its slot), for the relay's eviction on its home thread; the session sets it
// on its own thread. A claim is sticky until the session says otherwise: no second
// eviction picks the same session while the first is on its way to it.
class SessionMark {
 public:
  using Clock = std::chrono::steady_clock;
  // Any thread: unset while the session works, is in a transaction, or is claimed.
  std::optional<Clock::time_point> waiting_since() const {
    const auto ticks = waiting_since_.load(std::memory_order_relaxed);
    if (ticks == kNotWaiting || claimed_.load(std::memory_order_relaxed)) return std::nullopt;
    return Clock::time_point(Clock::duration(ticks));
  }
  // Any thread: true when the session was waiting and nobody had claimed it yet.
  bool claim() {
    if (waiting_since_.load(std::memory_order_relaxed) == kNotWaiting) return false;
    return !claimed_.exchange(true);
  }
  // The session's thread.
  void waiting(Clock::time_point since) {
    waiting_since_.store(since.time_since_epoch().count(), std::memory_order_relaxed);
  }
  void working() { waiting_since_.store(kNotWaiting, std::memory_order_relaxed); }
  void release() { claimed_.store(false); }  // the claim came too late: the session moved on

 private:
  static constexpr Clock::rep kNotWaiting = 0;
  std::atomic<Clock::rep> waiting_since_{kNotWaiting};
  std::atomic<bool> claimed_{false};
};

class ServerSession {
 public:
  // `current` is the relay's configuration as reloads replace it (it outlives the session):
  // each transaction starts under the one current then. `pool` is the pool of the thread
  // whose executor the socket has.
  ServerSession(boost::asio::ip::tcp::socket socket, const ConfigSlot& current,
                Telemetry& telemetry, UpstreamPool& pool, std::string id);

  boost::asio::awaitable<void> run();
  // Graceful shutdown: an idle client gets 421 now, a transaction in flight finishes first.
  // On the session's executor.
  void request_stop();
  const std::shared_ptr<SessionMark>& mark() const { return mark_; }
  // The relay is full, a new client came and home claimed this session's mark: 421 and
  // close, if still outside a transaction (slowloris; counted as an eviction), else the
  // claim is given back. On the session's executor.
  void evict();

  const std::string& id() const { return id_; }

 private:
  // A message on its way upstream as DATA (our client's DATA, or its BDAT chunks): the
  // client's lines pass the guard onto the writer, which fills `out` until a flush.
  struct OutgoingMessage {
    OutgoingMessage() = default;
    OutgoingMessage(const OutgoingMessage&) = delete;  // `writer` points at `out`
    OutgoingMessage& operator=(const OutgoingMessage&) = delete;
    // The upstream said 354, had no final dot and was not lost: lines go upstream.
    bool accepting() const { return data_open && !lost; }

    std::string out;  // our DATA octets not yet written upstream
    DataWriter writer{out};
    ClientHeaderGuard guard;
    std::size_t content_from = 0;  // where the message starts in `out` (after trace headers)
    bool data_open = false;        // the upstream said 354 and has not had its final dot
    // The upstream was lost and not replaced: the reply our client gets at the end.
    std::optional<Reply> lost;
  };
  // A BDAT transaction between its first chunk and its LAST (RFC 3030), relayed as DATA.
  struct BdatTransfer {
    explicit BdatTransfer(const DataLimits& limits) : reader(limits) {}
    BdatReader reader;
    OutgoingMessage message;
  };
  // How reading a part of the message (DATA's whole message, or one BDAT chunk) ended.
  enum class PartEnd {
    Read,        // all of it; the rest of the buffer is the client's next commands
    ClientLost,  // the client went away or stalled
    Endless,     // refused, and past twice max_message_size still not at its end
  };
  enum class LineRead { Line, Lost };
  // For the last words to a client we are letting go (evicted, closing): an evicted
  // slowloris that does not read must not keep its slot for command_s.
  static constexpr std::chrono::milliseconds kGoodbyeTimeout{5000};

  // ---- server_session.cpp: commands
  // Writes one reply within `timeout` (0: command_s).
  boost::asio::awaitable<bool> send(
      const Reply& reply, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Until `commands` holds a whole line, within command_s for the whole line.
  boost::asio::awaitable<LineRead> read_command_line(CommandReader& commands);
  // Carries out what the ServerFsm said; false when the session ends.
  boost::asio::awaitable<bool> dispatch(const ServerFsm::Action& action, CommandReader& commands);
  // STARTTLS (RFC 3207): 220, every plaintext byte after the command dropped, handshake.
  boost::asio::awaitable<bool> start_tls(const Reply& ready, CommandReader& commands);
  void log_transaction(const Reply& final_reply, std::uint64_t size);
  // The transaction is over, however it ended: the state machine moves on, the replay copy
  // of its data goes.
  void end_transaction();

  // ---- server_session_upstream.cpp: the envelope, and the upstream connection's life
  boost::asio::awaitable<bool> relay_mail(const MailParams& mail);
  // What the message needs that the upstream lacks ("REQUIRETLS", "SMTPUTF8", "BINARYMIME").
  std::optional<std::string> upstream_lacks(const MailParams& mail) const;
  boost::asio::awaitable<bool> relay_rcpt(const RcptParams& rcpt);
  // DATA upstream up to its 354; the reply for our client when that failed (the verdict
  // carried out: the upstream reset, or gone).
  boost::asio::awaitable<std::optional<Reply>> open_upstream_data();
  // The upstream's reply to our final dot, judged and carried out: the reply for our client.
  boost::asio::awaitable<Reply> upstream_final_reply();
  // What judge() said becomes of the upstream connection: kept, RSET, or aborted.
  boost::asio::awaitable<void> carry_out(const Verdict& verdict);
  std::chrono::milliseconds stage_timeout(UpstreamStage stage) const;
  // Closes the upstream at once, without QUIT: after a failure, or to end a message without
  // its final dot (nothing of it is delivered).
  boost::asio::awaitable<void> abort_upstream();
  // QUIT, then close: a live connection nobody will use again.
  boost::asio::awaitable<void> quit_upstream();
  // RSET; a connection that does not answer 250 is aborted.
  boost::asio::awaitable<void> reset_upstream();
  boost::asio::awaitable<void> keep_upstream_only_if_reusable();
  // At the end of the client session: a clean upstream connection goes to the pool.
  boost::asio::awaitable<void> release_upstream();

  // ---- server_session_data.cpp: the message
  boost::asio::awaitable<bool> relay_data();
  boost::asio::awaitable<bool> relay_bdat(const BdatParams& bdat);
  // The one loop for DATA and BDAT: reads the client's octets into `reader` until the part
  // is read, the lines onto `message`, and `message` upstream in pieces; at the end of the
  // part what is pending goes too, with the final dot when `last`.
  template <class Reader>
  boost::asio::awaitable<PartEnd> stream_part(Reader& reader, OutgoingMessage& message, bool last);
  // The upstream took DATA: our trace headers open the message.
  void start_message(OutgoingMessage& message) const;
  void write_trace_headers(DataWriter& writer) const;
  // `message.out` goes upstream, the message part (past our trace headers) kept for a
  // replay first; `last`: with the final dot. When the upstream was lost and could not be
  // replaced: the reply for our client, and there is no upstream any more.
  boost::asio::awaitable<std::optional<Reply>> flush(OutgoingMessage& message, bool last);
  // The message is over: `failure` (ours or the upstream's), or else the upstream's reply
  // to our final dot, goes to our client, and the transaction ends.
  boost::asio::awaitable<bool> answer_message(const std::optional<Reply>& failure,
                                              std::uint64_t size);
  // RFC 3030 2: a refused BDAT's octets are read and dropped, then `reply` is sent.
  boost::asio::awaitable<bool> discard_bdat(const BdatParams& bdat, const Reply& reply);
  // RSET, EHLO or the end of the session in the middle of BDAT chunks: the upstream is in
  // its DATA phase and must never get a final dot, so it is closed, not RSET.
  boost::asio::awaitable<void> abandon_bdat();
  boost::asio::awaitable<void> abandon_message(const char* why, std::uint64_t size);
  // A refused message that does not end: 421, and the session closes.
  boost::asio::awaitable<bool> refuse_endless_message(std::uint64_t size);
  DataLimits data_limits() const;

  // ---- server_session_replay.cpp: a lost upstream replaced
  // The upstream was lost (`lost`, a Lost verdict that may be replayed) at `stage`, before
  // our final dot: where replay_bar() allows, open a new route and replay MAIL, the accepted
  // RCPTs and, from the message stage, DATA with our trace headers and the data so far.
  // Nothing when the new upstream stands where the old one stood; otherwise the reply for
  // our client (the loss, or what stopped the replay), and there is no upstream.
  boost::asio::awaitable<std::optional<Reply>> replace_upstream(const Verdict& lost,
                                                                UpstreamStage stage);
  boost::asio::awaitable<std::optional<std::string>> replay_envelope(
      bool in_data, std::chrono::steady_clock::time_point deadline);

  tls::SmtpStream client_;
  tls::Deadline deadline_;
  const ConfigSlot& current_config_;
  std::shared_ptr<const RelayConfig> config_;
  Telemetry& telemetry_;
  UpstreamPool& pool_;
  std::string id_;
  std::string peer_;
  ServerFsm fsm_;
  std::unique_ptr<UpstreamSession> upstream_;
  std::unique_ptr<BdatTransfer> bdat_;
  // This transaction as the upstream accepted it, for a replay on another connection.
  std::vector<RcptParams> accepted_rcpts_;
  ReplayBuffer replay_;
  int replays_ = 0;
  std::string client_tls_;  // "TLSv1.3/TLS_AES_..." after STARTTLS, for the transaction log
  std::vector<FailedAttempt> failures_;  // this transaction's failed attempts, for headers
  std::string transaction_id_;
  unsigned transactions_ = 0;
  std::chrono::steady_clock::time_point transaction_start_;
  bool idle_ = false;
  bool stopping_ = false;
  bool evicted_ = false;
  std::shared_ptr<SessionMark> mark_ = std::make_shared<SessionMark>();
};

}  // namespace tlsrelay::proxy

// The session's front: reads the client's command lines (with the slowloris-proof time-out
// for a whole line), runs them through the ServerFsm and dispatches its actions to the
// relay (server_session_upstream.cpp, server_session_data.cpp); STARTTLS to our client; the
// goodbyes; the transaction log line.
#include "proxy/server/server_session.hpp"

#include <algorithm>
#include <cassert>

#include "proxy/policy/replies.hpp"
#include "proxy/server/limits.hpp"
#include "proxy/server/server_tls.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

ServerSession::ServerSession(asio::ip::tcp::socket socket, const ConfigSlot& current,
                             Telemetry& telemetry, UpstreamPool& pool, std::string id)
    : client_(socket.get_executor()),
      deadline_(socket.get_executor(), client_.socket()),
      current_config_(current),
      config_(current.get()),
      telemetry_(telemetry),
      pool_(pool),
      id_(std::move(id)),
      fsm_(config_->server),
      replay_(config_->settings.proxy.replay_memory_bytes) {
  client_.socket() = std::move(socket);
  error_code ec;
  auto ep = client_.socket().remote_endpoint(ec);
  peer_ = ec ? "unknown" : ep.address().to_string();
}

void ServerSession::request_stop() {
  stopping_ = true;
  if (idle_) {
    error_code ignored;
    client_.socket().cancel(ignored);
  }
}

void ServerSession::evict() {
  // Home claimed the mark while the session waited; since then it may have read a MAIL: a
  // transaction is never cut short.
  const auto state = fsm_.state();
  if (state != ServerFsm::State::Greeting && state != ServerFsm::State::Ready) {
    mark_->release();
    return;
  }
  evicted_ = true;
  telemetry_.metrics()->client_evicted();
  // Waiting for a line: wake it. Otherwise it is answering a command that came in the
  // meantime; the 421 follows that reply (the loop's head).
  if (idle_) {
    error_code ignored;
    client_.socket().cancel(ignored);
  }
}

// g++ 12 mis-copies class prvalues passed into a coroutine (an SSO string copied bitwise,
// then freed); so coroutines here take references to named objects that outlive the call,
// or values moved from named locals — never a temporary.
asio::awaitable<bool> ServerSession::send(const Reply& reply, std::chrono::milliseconds timeout) {
  const std::string wire = to_wire(reply);
  const tls::DeadlineGuard armed(deadline_,
                                 timeout.count() > 0 ? timeout : config_->command_timeout);
  auto ec = co_await client_.write(wire);
  co_return !ec;
}

asio::awaitable<void> ServerSession::run() {
  log_line(id_, LogFields("connect").add("client", peer_));
  const Reply greeting = fsm_.greeting();
  if (!co_await send(greeting)) co_return;
  CommandReader commands(kMaxCommandLine);
  while (fsm_.state() != ServerFsm::State::Closed) {
    if (stopping_) {
      const Reply bye = shutting_down_reply(config_->server.hostname);
      (void)co_await send(bye);
      break;
    }
    if (evicted_) {
      log_line(id_, LogFields("evicted").add("client", peer_).add("reason", "connection-limit"));
      const Reply bye = evicted_reply(config_->server.hostname);
      (void)co_await send(bye, kGoodbyeTimeout);
      break;
    }
    const LineRead got = co_await read_command_line(commands);
    // Evicted while a line came in within the same pass: it is not run, the 421 goes first.
    if (evicted_) continue;
    if (got == LineRead::Lost) {
      if (stopping_) continue;  // the loop head says goodbye
      if (deadline_.expired()) {
        const Reply timeout = client_timeout_reply(config_->server.hostname);
        (void)co_await send(timeout);
      }
      break;
    }
    auto taken = commands.take();
    if (auto* bad = std::get_if<Reply>(&taken)) {
      if (!co_await send(*bad)) break;
      continue;
    }
    const ServerFsm::Action action = fsm_.on_command(std::get<std::string>(taken));
    if (!co_await dispatch(action, commands)) break;
    // The transaction is over and its reply sent: a fallback connection goes now.
    if (fsm_.state() == ServerFsm::State::Ready) co_await keep_upstream_only_if_reusable();
  }
  if (bdat_) co_await abandon_bdat();
  co_await release_upstream();
  {
    // A client that reads nothing would hold its slot through TLS's close_notify: bounded.
    const tls::DeadlineGuard armed(deadline_, kGoodbyeTimeout);
    co_await client_.close();
  }
  log_line(id_, LogFields("disconnect").add("client", peer_).add("transactions", transactions_));
}

// One command line; pipelined bytes after it stay buffered for what follows (the next
// command, or message data after DATA). The time-out is for the whole line, not for each
// read: a client that trickles a byte at a time (slowloris) still has to finish.
asio::awaitable<ServerSession::LineRead> ServerSession::read_command_line(CommandReader& commands) {
  LineRead got = LineRead::Line;
  const auto line_deadline = std::chrono::steady_clock::now() + config_->command_timeout;
  const bool between_transactions =
      fsm_.state() == ServerFsm::State::Greeting || fsm_.state() == ServerFsm::State::Ready;
  if (between_transactions && !commands.line_pending()) {
    mark_->waiting(std::chrono::steady_clock::now());
  }
  while (!commands.line_pending()) {
    if (client_.buffered().empty()) {
      idle_ = true;
      error_code ec;
      {
        const tls::DeadlineGuard armed(deadline_,
                                       std::max(line_deadline - std::chrono::steady_clock::now(),
                                                std::chrono::steady_clock::duration::zero()));
        ec = co_await client_.read_more();
      }
      idle_ = false;
      if (ec) {
        got = LineRead::Lost;
        break;
      }
    }
    std::string chunk = client_.take();
    auto r = commands.feed(chunk);
    if (r.consumed < chunk.size()) client_.put_back(std::string_view(chunk).substr(r.consumed));
  }
  mark_->working();
  co_return got;
}

asio::awaitable<bool> ServerSession::dispatch(const ServerFsm::Action& a, CommandReader& commands) {
  using K = ServerFsm::Action::Kind;
  switch (a.kind) {
    case K::Reply:
      co_return co_await send(a.reply);
    case K::Close:
      (void)co_await send(a.reply);
      co_return false;
    case K::ResetTransaction:
      if (bdat_) {
        co_await abandon_bdat();
      } else {
        co_await reset_upstream();
      }
      co_return co_await send(a.reply);
    case K::RelayMail:
      co_return co_await relay_mail(a.mail);
    case K::RelayRcpt:
      co_return co_await relay_rcpt(a.rcpt);
    case K::RelayData:
      co_return co_await relay_data();
    case K::RelayBdat:
      co_return co_await relay_bdat(a.bdat);
    case K::DiscardBdat:
      co_return co_await discard_bdat(a.bdat, a.reply);
    case K::StartTls:
      co_return co_await start_tls(a.reply, commands);
  }
  assert(false && "unknown ServerFsm action");
  co_return false;
}

// RFC 3207 4.2 and CVE-2011-0411: whatever the client sent after the STARTTLS line came in
// plaintext and may have been injected by a man in the middle; it is dropped unread (Postfix's
// vstream_fpurge), never executed under TLS. The state machine then starts afresh: EHLO.
asio::awaitable<bool> ServerSession::start_tls(const Reply& ready, CommandReader& commands) {
  if (!config_->server_tls) co_return false;
  if (!co_await send(ready)) co_return false;
  const std::size_t dropped = client_.take().size() + commands.buffered();
  commands.reset();
  if (dropped > 0) {
    log_line(id_, LogFields("starttls-discard")
                      .add("client", peer_)
                      .add("bytes", dropped)
                      .add("reason", "pipelined-after-starttls"));
  }
  tls::SslPtr ssl = config_->server_tls->new_ssl();
  if (!ssl) {
    log_line(id_, LogFields("starttls-failed").add("client", peer_).add("reason", "ssl-new"));
    client_.close_now();
    co_return false;
  }
  client_.start_tls(std::move(ssl), tls::TlsChannel::Role::Server);
  error_code ec;
  {
    const tls::DeadlineGuard armed(deadline_, config_->command_timeout);
    ec = co_await client_.tls()->handshake();
  }
  if (ec) {
    std::string why = deadline_.expired() ? std::string("timeout") : ec.message();
    for (const auto& e : client_.tls()->error_text()) why += "; " + e;
    log_line(id_, LogFields("starttls-failed").add("client", peer_).add("reason", why));
    client_.close_now();
    co_return false;
  }
  client_tls_ = describe_tls(client_.tls()->ssl());
  log_line(id_, LogFields("starttls").add("client", peer_).add("tls", client_tls_));
  fsm_.tls_started();
  co_return true;
}

void ServerSession::end_transaction() {
  fsm_.transaction_done();
  replay_.clear();  // the message is answered: its copy (and the file) go now
}

void ServerSession::log_transaction(const Reply& final_reply, std::uint64_t size) {
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                      transaction_start_)
                .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  telemetry_.metrics()->transaction(upstream_ ? upstream_->facts().upstream.name : std::string("-"),
                                    outcome_of_reply(final_reply.code));
  log_line(id_, LogFields("transaction")
                    .add("txn", transaction_id_)
                    .add("client", peer_)
                    .add("from", "<" + fsm_.mail().reverse_path + ">")
                    .add("rcpts", fsm_.recipients())
                    .add("size", size)
                    .add("upstream", upstream_ ? upstream_->facts().upstream.name : "-")
                    .add("client_tls", client_tls_.empty() ? std::string("none") : client_tls_)
                    .add("reply", final_reply.first_line())
                    .add("ms", buf));
}

}  // namespace tlsrelay::proxy

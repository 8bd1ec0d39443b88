#include "proxy/server/server_session.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/text.hpp"
#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/server/data_reader.hpp"
#include "proxy/server/data_writer.hpp"
#include "proxy/server/limits.hpp"
#include "proxy/server/server_tls.hpp"
#include "proxy/server/trace_headers.hpp"
#include "tls/attempt_record.hpp"
#include "tls/errors.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Flush message data upstream in pieces this large: bounded memory per session whatever
// the message size, and few enough writes to keep the copy cheap.
constexpr std::size_t kDataFlushBytes = 64 * 1024;
// For the last words to a client we are letting go (evicted, closing): an evicted slowloris
// that does not read must not keep its slot for command_s.
constexpr std::chrono::milliseconds kGoodbyeTimeout{5000};

}  // namespace

ServerSession::ServerSession(asio::ip::tcp::socket socket,
                             const std::shared_ptr<const RelayConfig>& current,
                             Telemetry& telemetry, UpstreamPool& pool, std::string id)
    : client_(socket.get_executor()),
      deadline_(socket.get_executor(), client_.socket()),
      current_config_(current),
      config_(current),
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
  if (!waiting_since_) return;
  waiting_since_.reset();  // never chosen twice
  evicted_ = true;
  error_code ignored;
  client_.socket().cancel(ignored);
}

// g++ 12 mis-copies class prvalues passed into a coroutine (an SSO string copied bitwise,
// then freed); so coroutines here take references to named objects that outlive the call,
// or values moved from named locals — never a temporary.
asio::awaitable<bool> ServerSession::send(const Reply& reply, std::chrono::milliseconds timeout) {
  const std::string wire = to_wire(reply);
  deadline_.arm(timeout.count() > 0 ? timeout : config_->command_timeout);
  auto ec = co_await client_.write(wire);
  deadline_.disarm();
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
    // One command line; pipelined bytes after it stay buffered for what follows (the next
    // command, or message data after DATA). The time-out is for the whole line, not for
    // each read: a client that trickles a byte at a time (slowloris) still has to finish.
    bool lost = false;
    const auto line_deadline = std::chrono::steady_clock::now() + config_->command_timeout;
    const bool between_transactions =
        fsm_.state() == ServerFsm::State::Greeting || fsm_.state() == ServerFsm::State::Ready;
    if (between_transactions && !commands.line_pending()) {
      waiting_since_ = std::chrono::steady_clock::now();
    }
    while (!commands.line_pending()) {
      if (client_.buffered().empty()) {
        idle_ = true;
        deadline_.arm(std::max(line_deadline - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero()));
        auto ec = co_await client_.read_more();
        deadline_.disarm();
        idle_ = false;
        if (ec) {
          lost = true;
          break;
        }
      }
      std::string chunk = client_.take();
      auto r = commands.feed(chunk);
      if (r.consumed < chunk.size()) client_.put_back(std::string_view(chunk).substr(r.consumed));
    }
    waiting_since_.reset();
    // Evicted while a line came in within the same pass: it is not run, the 421 goes first.
    if (evicted_) continue;
    if (lost) {
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
    const std::string& line = std::get<std::string>(taken);
    ServerFsm::Action a = fsm_.on_command(line);
    using K = ServerFsm::Action::Kind;
    bool ok = true;
    switch (a.kind) {
      case K::Reply:
        ok = co_await send(a.reply);
        break;
      case K::Close:
        (void)co_await send(a.reply);
        ok = false;
        break;
      case K::ResetTransaction:
        if (bdat_) {
          co_await abandon_bdat();
        } else {
          co_await reset_upstream();
        }
        ok = co_await send(a.reply);
        break;
      case K::RelayMail:
        ok = co_await relay_mail(a.mail);
        break;
      case K::RelayRcpt:
        ok = co_await relay_rcpt(a.rcpt);
        break;
      case K::RelayData:
        ok = co_await relay_data();
        break;
      case K::RelayBdat:
        ok = co_await relay_bdat(a.bdat);
        break;
      case K::DiscardBdat:
        ok = co_await discard_bdat(a.bdat, a.reply);
        break;
      case K::StartTls:
        ok = co_await start_tls(a.reply, commands);
        break;
    }
    if (!ok) break;
    // The transaction is over and its reply sent: a fallback connection goes now.
    if (fsm_.state() == ServerFsm::State::Ready) co_await keep_upstream_only_if_reusable();
  }
  if (bdat_) co_await abandon_bdat();
  co_await release_upstream();
  // A client that reads nothing would hold its slot through TLS's close_notify: bounded.
  deadline_.arm(kGoodbyeTimeout);
  co_await client_.close();
  deadline_.disarm();
  log_line(id_, LogFields("disconnect").add("client", peer_).add("transactions", transactions_));
}

asio::awaitable<void> ServerSession::reset_upstream() {
  if (!upstream_) co_return;
  std::string rset = "RSET";
  auto r = co_await upstream_->command(std::move(rset), config_->command_timeout);
  if (!r.reply || r.reply->code != 250) co_await drop_upstream(false);
}

// The client went away or stalled in the middle of a message: the upstream must not get a
// final dot (it would deliver a truncated message), so it is closed; the client gets 421 if
// it is still there.
asio::awaitable<void> ServerSession::abandon_message(const char* why, std::uint64_t size) {
  co_await drop_upstream(false);
  log_transaction(abandoned_reply(why), size);
  end_transaction();
  if (deadline_.expired()) {
    const Reply timeout = client_timeout_reply(config_->server.hostname);
    (void)co_await send(timeout);
  }
}

asio::awaitable<void> ServerSession::release_upstream() {
  if (!upstream_) co_return;
  // Whatever the client left half done (MAIL, RCPT) is cleared before anybody reuses it;
  // a connection that does not answer RSET with 250 is not clean and is closed.
  if (!upstream_->broken() && upstream_->reusable()) {
    std::string rset = "RSET";
    auto r = co_await upstream_->command(std::move(rset), config_->command_timeout);
    if (r.reply && r.reply->code == 250) {
      pool_.give(std::move(upstream_), config_->routes);
      co_return;
    }
  }
  co_await drop_upstream(!upstream_->broken());
}

// Between transactions the session keeps only a connection the next message may take as it
// is: alive, opened with the upstream's normal profile under the configuration in force
// now (not one a reload replaced), and young enough. A compat or
// plaintext fallback was the policy's answer for one message under that message's own
// requirements (a REQUIRETLS message never gets one); the next message gets its own route.
// The age limit is the pool's, so that a long client session does not keep a certificate
// unchecked (upstream_pool.hpp).
asio::awaitable<void> ServerSession::keep_upstream_only_if_reusable() {
  if (!upstream_) co_return;
  if (upstream_->broken()) {
    co_await drop_upstream(false);
  } else if (!upstream_->reusable() ||
             upstream_->config_generation() != current_config_->generation ||
             std::chrono::steady_clock::now() - upstream_->opened_at() >=
                 config_->settings.proxy.reuse_time_limit) {
    pool_.retire(std::move(upstream_));  // QUIT in the background
  }
}

asio::awaitable<void> ServerSession::drop_upstream(bool polite) {
  if (!upstream_) co_return;
  if (polite) {
    co_await upstream_->quit();
  } else {
    co_await upstream_->abort();
  }
  upstream_.reset();
}

asio::awaitable<bool> ServerSession::relay_mail(const MailParams& mail) {
  transaction_id_ = id_ + "." + std::to_string(++transactions_);
  transaction_start_ = std::chrono::steady_clock::now();
  failures_.clear();
  accepted_rcpts_.clear();
  replay_.clear();
  replays_ = 0;
  replay_failure_.reset();
  co_await keep_upstream_only_if_reusable();
  // A reload since the last transaction: this one runs under the new configuration.
  config_ = current_config_;
  // Round 2 only when a reused connection (kept from this session's last transaction, or
  // from the pool) turned out dead at MAIL: that is not the message's failure, so open a
  // fresh route transparently.
  Reply reply;
  for (int round = 1; round <= 2; ++round) {
    bool reused = upstream_ != nullptr;
    if (!upstream_) {
      const RouteRequest request{transaction_id_, mail.requiretls, round == 1};
      RouteResult route = co_await open_route(config_->routes, telemetry_, pool_, request);
      for (auto& f : route.failures) failures_.push_back(std::move(f));
      if (!route.session) {
        log_transaction(route.failure_reply, 0);
        fsm_.mail_done(route.failure_reply);
        co_return co_await send(route.failure_reply);
      }
      upstream_ = std::move(route.session);
      reused = route.pooled;
    }
    const UpstreamCaps caps = caps_from_ehlo(upstream_->facts().smtp.extensions);
    // RFC 8689 4.2.1: REQUIRETLS goes on only over verified TLS to a server that offers it.
    if (mail.requiretls &&
        !carries_requiretls(upstream_->facts(), caps.requiretls, upstream_->reusable())) {
      Reply refused = requiretls_reply(upstream_->describe());
      log_transaction(refused, 0);
      fsm_.mail_done(refused);
      co_return co_await send(refused);
    }
    std::string command = format_mail(mail, caps);
    // What the message needs and the upstream lacks (RFC 6531 3.4, RFC 3030 3).
    for (const std::string& missing : missing_extensions(mail, caps)) {
      if (missing == "SMTPUTF8" || missing == "BINARYMIME") {
        Reply refused = extension_missing_reply(upstream_->describe(), missing);
        log_transaction(refused, 0);
        fsm_.mail_done(refused);
        co_return co_await send(refused);
      }
    }
    auto r = co_await upstream_->command(std::move(command), config_->command_timeout);
    // A server that timed out the idle connection may have said 421 before closing it.
    if (reused && round == 1 && (!r.reply || r.reply->code == 421)) {
      log_line(id_, LogFields("reused-upstream-lost")
                        .add("upstream", upstream_->describe())
                        .add("action", "reconnect"));
      co_await drop_upstream(false);
      continue;
    }
    if (!r.reply) {
      reply = lost_upstream_reply(upstream_->describe(), "MAIL FROM", r.lost);
      co_await drop_upstream(false);
    } else if (r.reply->code < 200 || (r.reply->code >= 300 && r.reply->code < 400)) {
      reply = unexpected_reply(upstream_->describe(), "MAIL FROM", *r.reply);
      co_await drop_upstream(false);
    } else {
      reply = *r.reply;
    }
    break;
  }
  if (reply.code == 421) co_await drop_upstream(false);  // the upstream is closing
  if (reply.code / 100 != 2) log_transaction(reply, 0);
  fsm_.mail_done(reply);
  co_return co_await send(reply);
}

asio::awaitable<bool> ServerSession::relay_rcpt(const RcptParams& rcpt) {
  Reply reply;
  const std::string stage = "RCPT TO";
  for (;;) {
    if (!upstream_) {
      reply = lost_upstream_reply("the upstream", stage, FailureClass::ConnectionClosed);
      break;
    }
    const UpstreamCaps caps = caps_from_ehlo(upstream_->facts().smtp.extensions);
    std::string command = format_rcpt(rcpt, caps);
    auto r = co_await upstream_->command(std::move(command), config_->command_timeout);
    if (!r.reply) {
      reply = lost_upstream_reply(upstream_->describe(), stage, r.lost);
      if (co_await replace_upstream(stage, r.lost, reply, false)) continue;
      co_await drop_upstream(false);
    } else if (r.reply->code < 200 || (r.reply->code >= 300 && r.reply->code < 400)) {
      reply = unexpected_reply(upstream_->describe(), stage, *r.reply);
      co_await drop_upstream(false);
    } else {
      reply = *r.reply;
    }
    break;
  }
  if (reply.code / 100 == 2) accepted_rcpts_.push_back(rcpt);
  if (reply.code == 421) co_await drop_upstream(false);
  fsm_.rcpt_done(reply);
  co_return co_await send(reply);
}

asio::awaitable<std::optional<Reply>> ServerSession::open_upstream_data() {
  // Without an upstream (it died after RCPT) the client still gets a reply, and no 354:
  // nothing is read as message data that we could not deliver.
  if (!upstream_) {
    co_return lost_upstream_reply("the upstream", "DATA", FailureClass::ConnectionClosed);
  }
  std::string data_command = "DATA";
  auto r = co_await upstream_->command(std::move(data_command), config_->command_timeout);
  Reply reply;
  if (!r.reply) {
    reply = lost_upstream_reply(upstream_->describe(), "DATA", r.lost);
    const std::string stage = "DATA";
    if (co_await replace_upstream(stage, r.lost, reply, false)) {
      data_command = "DATA";
      r = co_await upstream_->command(std::move(data_command), config_->command_timeout);
    }
  }
  if (r.reply && r.reply->code == 354) co_return std::nullopt;
  if (!r.reply) {
    if (upstream_) reply = lost_upstream_reply(upstream_->describe(), "DATA", r.lost);
    co_await drop_upstream(false);
  } else if (r.reply->code / 100 == 4 || r.reply->code / 100 == 5) {
    reply = *r.reply;
    // The upstream still holds MAIL and RCPT; clear them before the next transaction.
    co_await reset_upstream();
  } else {
    reply = unexpected_reply(upstream_->describe(), "DATA", *r.reply);
    co_await drop_upstream(false);
  }
  co_return reply;
}

DataLimits ServerSession::data_limits() const {
  return DataLimits{config_->settings.proxy.max_line_length, config_->server.max_message_size,
                    config_->settings.proxy.bare_newlines};
}

// Our trace headers go first (interfaces.md "Per-message headers").
void ServerSession::write_trace_headers(DataWriter& writer) const {
  if (!config_->settings.headers.enabled || !upstream_) return;
  const std::string_view profile =
      upstream_->reusable() ? std::string_view() : to_string(upstream_->profile());
  for (const auto& field : trace_fields(upstream_->facts(), failures_, profile)) {
    writer.line(field);
  }
}

asio::awaitable<Reply> ServerSession::upstream_final_reply() {
  Reply reply;
  auto fin = co_await upstream_->reply(config_->data_done_timeout);
  if (!fin.reply) {
    reply = lost_upstream_reply(upstream_->describe(), "end of DATA", fin.lost);
    co_await drop_upstream(false);
  } else if (fin.reply->code / 100 == 2 || fin.reply->code / 100 == 4 ||
             fin.reply->code / 100 == 5) {
    reply = *fin.reply;
  } else {
    reply = unexpected_reply(upstream_->describe(), "end of DATA", *fin.reply);
    co_await drop_upstream(false);
  }
  co_return reply;
}

asio::awaitable<bool> ServerSession::relay_data() {
  if (auto refused = co_await open_upstream_data()) {
    log_transaction(*refused, 0);
    end_transaction();
    co_return co_await send(*refused);
  }
  const Reply go_ahead = go_ahead_reply();
  if (!co_await send(go_ahead)) co_return false;

  DataReader reader(data_limits());
  std::string out;
  DataWriter writer(out);
  write_trace_headers(writer);
  std::size_t content_from = out.size();
  ClientHeaderGuard guard;

  bool upstream_ok = true;
  std::uint64_t size = 0;
  const std::uint64_t max = config_->server.max_message_size;
  const std::uint64_t discard_limit = max > UINT64_MAX / 2 ? UINT64_MAX : 2 * max;
  for (;;) {
    deadline_.arm(config_->data_block_timeout);
    auto ec = co_await client_.read_more();
    deadline_.disarm();
    if (ec) {
      co_await abandon_message("client lost during DATA", reader.size());
      co_return false;
    }
    std::string chunk = client_.take();
    auto fed = reader.feed(chunk, [&](std::string_view line) { guard.line(line, writer); });
    size = reader.size();
    // Bytes after the final dot are the client's next (pipelined) commands.
    if (fed.consumed < chunk.size()) {
      client_.put_back(std::string_view(chunk).substr(fed.consumed));
    }
    if (reader.error() && reader.wire_bytes() > discard_limit) {
      // A refused message is read on to its end so that the client gets the reply in step,
      // but not without bound: past twice max_message_size it is a client that will not
      // stop. Like an oversized BDAT: 421, and the connection closes.
      co_await drop_upstream(false);
      const Reply too_big = too_big_closing_reply(config_->server.hostname);
      log_transaction(too_big, size);
      end_transaction();
      (void)co_await send(too_big, kGoodbyeTimeout);
      co_return false;
    }
    if (reader.error()) {
      out.clear();  // refused: nothing more goes upstream, which never gets a final dot
    } else if (upstream_ok && (out.size() >= kDataFlushBytes || reader.done())) {
      upstream_ok = co_await flush_data(out, writer, content_from, reader.done());
    } else if (!upstream_ok) {
      out.clear();
    }
    if (reader.done()) break;
  }

  Reply reply;
  if (reader.error()) {
    // The upstream never saw a final dot; closing it abandons the transaction there, so
    // nothing of a message we refused is delivered.
    reply = *reader.error();
    co_await drop_upstream(false);
  } else if (!upstream_ok) {
    reply = *replay_failure_;
    co_await drop_upstream(false);
  } else {
    reply = co_await upstream_final_reply();
  }
  if (reply.code == 421) co_await drop_upstream(false);
  log_transaction(reply, size);
  end_transaction();
  co_return co_await send(reply);
}

// RFC 3030 with an upstream that may not offer CHUNKING: each chunk's octets become logical
// lines exactly as DATA's do (same bare CR/LF policy, same limits), and go upstream as DATA
// with our own stuffing and final dot. A chunk is answered 250 only once its lines are
// written upstream; the LAST chunk gets the upstream's reply to our final dot.
asio::awaitable<bool> ServerSession::relay_bdat(const BdatParams& bdat) {
  const bool first = !bdat_;
  if (first) bdat_ = std::make_unique<BdatTransfer>(data_limits());
  BdatTransfer& t = *bdat_;
  // The announced size is checked against max_message_size before a byte is read.
  t.reader.begin_chunk(bdat.size, bdat.last);
  std::optional<Reply> failure = t.reader.error();
  if (!failure && first) {
    failure = co_await open_upstream_data();
    if (!failure) {
      t.data_open = true;
      write_trace_headers(t.writer);
      t.content_from = t.out.size();
    }
  }
  bool upstream_ok = !failure && t.data_open;
  const auto sink = [&t](std::string_view line) { t.guard.line(line, t.writer); };
  while (t.reader.in_chunk()) {
    if (client_.buffered().empty() && t.reader.chunk_remaining() > 0) {
      deadline_.arm(config_->data_block_timeout);
      auto ec = co_await client_.read_more();
      deadline_.disarm();
      if (ec) {
        bdat_.reset();
        co_await abandon_message("client lost during BDAT", 0);
        co_return false;
      }
    }
    std::string chunk = client_.take();
    auto fed = t.reader.feed(chunk, sink);
    // Bytes past the chunk are the client's next command (RFC 3030 4.2 pipelining).
    if (fed.consumed < chunk.size()) {
      client_.put_back(std::string_view(chunk).substr(fed.consumed));
    }
    if (upstream_ok && t.out.size() >= kDataFlushBytes) {
      upstream_ok = co_await flush_data(t.out, t.writer, t.content_from, false);
    } else if (!upstream_ok) {
      t.out.clear();
    }
  }
  const std::uint64_t size = t.reader.size();
  if (!failure && t.reader.error()) failure = *t.reader.error();
  if (!failure && upstream_ok && (bdat.last || !t.out.empty())) {
    upstream_ok = co_await flush_data(t.out, t.writer, t.content_from, bdat.last);
  }
  if (!failure && !upstream_ok) failure = *replay_failure_;
  if (failure) {
    // RFC 3030 2: a 4xx/5xx to any chunk fails the whole transaction; the upstream, if it
    // is in DATA, is closed without its final dot so nothing of the message is delivered.
    const bool in_data = t.data_open;
    bdat_.reset();
    if (in_data) {
      co_await drop_upstream(false);
    } else {
      // Refused before DATA went upstream (an oversize first chunk): the upstream still
      // holds MAIL and RCPT; clear them before the next transaction.
      co_await reset_upstream();
    }
    if (failure->code == 421) co_await drop_upstream(false);
    log_transaction(*failure, size);
    end_transaction();
    co_return co_await send(*failure);
  }
  if (!bdat.last) {
    fsm_.bdat_chunk_done();
    const Reply accepted = chunk_accepted_reply(bdat.size);
    co_return co_await send(accepted);
  }
  bdat_.reset();
  Reply reply = co_await upstream_final_reply();
  if (reply.code == 421) co_await drop_upstream(false);
  log_transaction(reply, size);
  end_transaction();
  co_return co_await send(reply);
}

asio::awaitable<bool> ServerSession::discard_bdat(const BdatParams& bdat, const Reply& reply) {
  std::uint64_t remaining = bdat.size;
  while (remaining > 0) {
    if (client_.buffered().empty()) {
      deadline_.arm(config_->data_block_timeout);
      auto ec = co_await client_.read_more();
      deadline_.disarm();
      if (ec) co_return false;
    }
    std::string chunk = client_.take();
    const auto used = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, chunk.size()));
    remaining -= used;
    if (used < chunk.size()) client_.put_back(std::string_view(chunk).substr(used));
  }
  co_return co_await send(reply);
}

asio::awaitable<void> ServerSession::abandon_bdat() {
  if (!bdat_) co_return;
  const bool in_data = bdat_->data_open;
  const std::uint64_t size = bdat_->reader.size();
  bdat_.reset();
  if (in_data) co_await drop_upstream(false);
  log_transaction(abandoned_reply("client abandoned BDAT transaction"), size);
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
  deadline_.arm(config_->command_timeout);
  auto ec = co_await client_.tls()->handshake();
  deadline_.disarm();
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
  telemetry_.metrics().transaction(upstream_ ? upstream_->facts().upstream.name : std::string("-"),
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

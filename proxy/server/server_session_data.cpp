// ServerSession, the message: DATA (RFC 5321 4.1.1.4) and BDAT chunks (RFC 3030) from our
// client, both relayed upstream as DATA through one streaming loop (stream_part): the
// client's octets become lines in the data reader (the anti-smuggling core), pass the
// trace-header guard onto our own DataWriter, and go upstream in bounded pieces (flush),
// each kept for a replay first. The message ends with the upstream's reply to our final
// dot, or with a failure: then the upstream never gets the dot.
#include <algorithm>
#include <cstdint>

#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/server/server_session.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Flush message data upstream in pieces this large: bounded memory per session whatever
// the message size, and few enough writes to keep the copy cheap.
constexpr std::size_t kDataFlushBytes = 64 * 1024;

// The part stream_part() reads: DATA's whole message, up to its final dot; one BDAT chunk,
// exactly its announced octets (one of size 0 wants none).
bool part_read(const DataReader& reader) {
  return reader.done();
}
bool part_read(const BdatReader& reader) {
  return !reader.in_chunk();
}
bool wants_octets(const DataReader&) {
  return true;
}
bool wants_octets(const BdatReader& reader) {
  return reader.chunk_remaining() > 0;
}

}  // namespace

DataLimits ServerSession::data_limits() const {
  return DataLimits{config_->settings.proxy.max_line_length, config_->server.max_message_size,
                    config_->settings.proxy.bare_newlines};
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
  OutgoingMessage message;
  start_message(message);
  switch (co_await stream_part(reader, message, true)) {
    case PartEnd::ClientLost:
      co_await abandon_message("client lost during DATA", reader.size());
      co_return false;
    case PartEnd::Endless:
      co_return co_await refuse_endless_message(reader.size());
    case PartEnd::Read:
      break;
  }
  const std::optional<Reply> failure = reader.error() ? reader.error() : message.lost;
  // The upstream never saw a final dot; closing it abandons the transaction there, so
  // nothing of a message we refused is delivered.
  if (failure) co_await abort_upstream();
  co_return co_await answer_message(failure, reader.size());
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
  // DATA goes upstream with the first chunk. Refused (the verdict carried out already), the
  // chunk's octets are still read, and dropped.
  std::optional<Reply> refused;
  if (first && !t.reader.error()) {
    refused = co_await open_upstream_data();
    if (!refused) start_message(t.message);
  }
  switch (co_await stream_part(t.reader, t.message, bdat.last)) {
    case PartEnd::ClientLost:
      bdat_.reset();
      co_await abandon_message("client lost during BDAT", 0);
      co_return false;
    case PartEnd::Endless: {
      const std::uint64_t size = t.reader.size();
      co_return co_await refuse_endless_message(size);
    }
    case PartEnd::Read:
      break;
  }
  const std::uint64_t size = t.reader.size();
  // RFC 3030 2: a 4xx/5xx to any chunk fails the whole transaction.
  const std::optional<Reply> failure = refused            ? refused
                                       : t.reader.error() ? t.reader.error()
                                                          : t.message.lost;
  if (failure) {
    const bool in_data = t.message.data_open;
    bdat_.reset();
    if (in_data) {
      // The upstream is in DATA: closed without its final dot, nothing is delivered.
      co_await abort_upstream();
    } else if (!refused) {
      // Refused before DATA went upstream (an oversize first chunk): the upstream still
      // holds MAIL and RCPT; clear them before the next transaction.
      co_await reset_upstream();
    }
  } else if (!bdat.last) {
    fsm_.bdat_chunk_done();
    const Reply accepted = chunk_accepted_reply(bdat.size);
    co_return co_await send(accepted);
  }
  bdat_.reset();
  co_return co_await answer_message(failure, size);
}

// DATA and BDAT differ in where a part ends (part_read) and in whether there is anything to
// wait for (wants_octets); everything else — limits, pipelining, flushing, dropping what the
// upstream will not get — is the same and so is here once.
template <class Reader>
asio::awaitable<ServerSession::PartEnd> ServerSession::stream_part(Reader& reader,
                                                                   OutgoingMessage& message,
                                                                   bool last) {
  const LineSink sink = [&message](std::string_view line) {
    message.guard.line(line, message.writer);
  };
  const CleanLinesSink runs = [&message](const CleanLines& lines) {
    message.guard.lines(lines, message.writer);
  };
  // A refused message is read on to its end so that the client gets the reply in step, but
  // not without bound: past twice max_message_size it is a client that will not stop. Like
  // an oversized BDAT: 421, and the connection closes.
  const std::uint64_t max = config_->server.max_message_size;
  const std::uint64_t discard_limit = max > UINT64_MAX / 2 ? UINT64_MAX : 2 * max;
  while (!part_read(reader)) {
    if (client_.buffered().empty() && wants_octets(reader)) {
      error_code ec;
      {
        const tls::DeadlineGuard armed(deadline_, config_->data_block_timeout);
        ec = co_await client_.read_more();
      }
      if (ec) co_return PartEnd::ClientLost;
    }
    // Read in place: the reader takes what belongs to the message or the chunk; what it
    // leaves is the client's next (pipelined) commands (RFC 2920, RFC 3030 4.2).
    const auto fed = reader.feed(client_.buffered(), sink, runs);
    client_.consume(fed.consumed);
    if (reader.error() && reader.wire_bytes() > discard_limit) co_return PartEnd::Endless;
    if (reader.error() || !message.accepting()) {
      message.out.clear();  // nothing more goes upstream, which never gets a final dot
    } else if (!part_read(reader) && message.out.size() >= kDataFlushBytes) {
      message.lost = co_await flush(message, false);
    }
  }
  client_.trim();
  if (!reader.error() && message.accepting() && (last || !message.out.empty())) {
    message.lost = co_await flush(message, last);
  }
  co_return PartEnd::Read;
}

void ServerSession::start_message(OutgoingMessage& message) const {
  message.data_open = true;
  write_trace_headers(message.writer);
  message.content_from = message.out.size();
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

asio::awaitable<std::optional<Reply>> ServerSession::flush(OutgoingMessage& message, bool last) {
  // After the one replay there is none to keep the data for.
  if (replays_ < kMaxReplays) {
    replay_.append(
        std::string_view(message.out).substr(std::min(message.content_from, message.out.size())));
  }
  message.content_from = 0;
  if (last) message.writer.finish();
  const bool written =
      co_await upstream_->write(message.out, stage_timeout(UpstreamStage::Message));
  message.out.clear();
  if (written) co_return std::nullopt;
  // A write that failed never handed the last byte to the kernel, so the final dot (the
  // last octets) cannot have reached the upstream: a replay delivers the message once.
  UpstreamOutcome lost;
  lost.loss = upstream_->loss();
  const Verdict verdict =
      judge(UpstreamStage::Message, lost, upstream_->describe(), transaction_id_);
  std::optional<Reply> failure = co_await replace_upstream(verdict, UpstreamStage::Message);
  if (failure || !last) co_return failure;
  // The new upstream has had the message so far; the final dot is still to go.
  std::string dot;
  DataWriter end(dot);
  end.finish();
  if (co_await upstream_->write(dot, stage_timeout(UpstreamStage::Message))) co_return std::nullopt;
  lost.loss = upstream_->loss();
  failure = judge(UpstreamStage::Message, lost, upstream_->describe(), transaction_id_).reply;
  co_await abort_upstream();
  co_return failure;
}

asio::awaitable<bool> ServerSession::answer_message(const std::optional<Reply>& failure,
                                                    std::uint64_t size) {
  Reply reply;
  if (failure) {
    reply = *failure;
  } else {
    reply = co_await upstream_final_reply();
  }
  log_transaction(reply, size);
  end_transaction();
  co_return co_await send(reply);
}

asio::awaitable<bool> ServerSession::discard_bdat(const BdatParams& bdat, const Reply& reply) {
  std::uint64_t remaining = bdat.size;
  while (remaining > 0) {
    if (client_.buffered().empty()) {
      error_code ec;
      {
        const tls::DeadlineGuard armed(deadline_, config_->data_block_timeout);
        ec = co_await client_.read_more();
      }
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
  const bool in_data = bdat_->message.data_open;
  const std::uint64_t size = bdat_->reader.size();
  bdat_.reset();
  if (in_data) co_await abort_upstream();
  log_transaction(abandoned_reply("client abandoned BDAT transaction"), size);
}

// The client went away or stalled in the middle of a message: the upstream must not get a
// final dot (it would deliver a truncated message), so it is closed; the client gets 421 if
// it is still there.
asio::awaitable<void> ServerSession::abandon_message(const char* why, std::uint64_t size) {
  co_await abort_upstream();
  log_transaction(abandoned_reply(why), size);
  end_transaction();
  if (deadline_.expired()) {
    const Reply timeout = client_timeout_reply(config_->server.hostname);
    (void)co_await send(timeout);
  }
}

asio::awaitable<bool> ServerSession::refuse_endless_message(std::uint64_t size) {
  bdat_.reset();
  co_await abort_upstream();
  const Reply too_big = too_big_closing_reply(config_->server.hostname);
  log_transaction(too_big, size);
  end_transaction();
  (void)co_await send(too_big, kGoodbyeTimeout);
  co_return false;
}

}  // namespace tlsrelay::proxy

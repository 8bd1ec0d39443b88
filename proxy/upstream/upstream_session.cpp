#include "proxy/upstream/upstream_session.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

UpstreamSession::UpstreamSession(std::unique_ptr<tls::SmtpStream> stream, tls::AttemptFacts facts)
    : stream_(std::move(stream)),
      facts_(std::move(facts)),
      deadline_(stream_->socket().get_executor(), stream_->socket()) {}

UpstreamSession::~UpstreamSession() = default;

std::string_view to_string(RouteProfile p) {
  switch (p) {
    case RouteProfile::Normal:
      return "default";
    case RouteProfile::Compat:
      return "compat";
    case RouteProfile::Plaintext:
      return "plaintext";
  }
  return "default";
}

std::string UpstreamSession::describe() const {
  return facts_.upstream.name + " " + facts_.upstream.host + "[" + facts_.network.address +
         "]:" + std::to_string(facts_.upstream.port);
}

asio::awaitable<UpstreamOutcome> UpstreamSession::reply(std::chrono::milliseconds timeout) {
  UpstreamOutcome out;
  if (broken_) co_return out;
  const tls::DeadlineGuard armed(deadline_, timeout);
  ReplyParser parser;
  std::string line;
  for (;;) {
    if (auto ec = co_await stream_->read_line(line, kMaxReplyLine, true)) {
      lose(ec);
      out.loss = loss_;
      break;
    }
    auto status = parser.feed(line);
    if (status == ReplyParser::Status::NeedMore) continue;
    if (status == ReplyParser::Status::Complete) out.reply = parser.take();
    // Not SMTP: a loss without a socket error (connection-closed).
    if (status == ReplyParser::Status::NotSmtp) broken_ = true;
    break;
  }
  co_return out;
}

asio::awaitable<UpstreamOutcome> UpstreamSession::command(std::string line,
                                                          std::chrono::milliseconds timeout) {
  line += "\r\n";
  const bool written = co_await write(line, timeout);
  if (!written) {
    UpstreamOutcome lost;
    lost.loss = loss_;
    co_return lost;
  }
  UpstreamOutcome r = co_await reply(timeout);
  co_return r;
}

asio::awaitable<bool> UpstreamSession::write(std::string_view bytes,
                                             std::chrono::milliseconds timeout) {
  if (broken_) co_return false;
  boost::system::error_code ec;
  {
    const tls::DeadlineGuard armed(deadline_, timeout);
    ec = co_await stream_->write(bytes);
  }
  if (ec) lose(ec);
  co_return !ec;
}

// Only the raw facts: what they mean (timeout, reset, closed) is client_fsm's loss_class().
void UpstreamSession::lose(const boost::system::error_code& ec) {
  broken_ = true;
  loss_ = UpstreamLoss{ec, deadline_.expired()};
}

asio::awaitable<void> UpstreamSession::quit() {
  if (!broken_) {
    std::string quit = "QUIT";
    (void)co_await command(std::move(quit), std::chrono::milliseconds(10000));
  }
  // The polite close (close_notify) gets a short deadline of its own.
  const tls::DeadlineGuard armed(deadline_, std::chrono::seconds(5));
  co_await stream_->close();
}

asio::awaitable<void> UpstreamSession::abort() {
  broken_ = true;
  stream_->close_now();
  co_return;
}

}  // namespace tlsrelay::proxy

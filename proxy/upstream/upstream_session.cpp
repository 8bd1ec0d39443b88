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

asio::awaitable<UpstreamReply> UpstreamSession::reply(std::chrono::milliseconds timeout) {
  UpstreamReply out;
  if (broken_) co_return out;
  deadline_.arm(timeout);
  ReplyParser parser;
  std::string line;
  for (;;) {
    if (auto ec = co_await stream_->read_line(line, kMaxReplyLine, true)) {
      out.timed_out = deadline_.expired();
      lose(ec);
      out.lost = lost_;
      break;
    }
    auto status = parser.feed(line);
    if (status == ReplyParser::Status::NeedMore) continue;
    if (status == ReplyParser::Status::Complete) out.reply = parser.take();
    if (status == ReplyParser::Status::NotSmtp) broken_ = true;
    break;
  }
  deadline_.disarm();
  co_return out;
}

asio::awaitable<UpstreamReply> UpstreamSession::command(std::string line,
                                                        std::chrono::milliseconds timeout) {
  line += "\r\n";
  const bool written = co_await write(line, timeout);
  if (!written) {
    UpstreamReply lost;
    lost.timed_out = lost_ == FailureClass::Timeout;
    lost.lost = lost_;
    co_return lost;
  }
  UpstreamReply r = co_await reply(timeout);
  co_return r;
}

asio::awaitable<bool> UpstreamSession::write(std::string_view bytes,
                                             std::chrono::milliseconds timeout) {
  if (broken_) co_return false;
  deadline_.arm(timeout);
  auto ec = co_await stream_->write(bytes);
  deadline_.disarm();
  if (ec) lose(ec);
  co_return !ec;
}

void UpstreamSession::lose(const boost::system::error_code& ec) {
  broken_ = true;
  if (deadline_.expired()) {
    lost_ = FailureClass::Timeout;
  } else if (ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe) {
    lost_ = FailureClass::ConnectionReset;
  } else {
    lost_ = FailureClass::ConnectionClosed;
  }
}

asio::awaitable<void> UpstreamSession::quit() {
  if (!broken_) {
    std::string quit = "QUIT";
    (void)co_await command(std::move(quit), std::chrono::milliseconds(10000));
  }
  // The polite close (close_notify) gets a short deadline of its own.
  deadline_.arm(std::chrono::seconds(5));
  co_await stream_->close();
  deadline_.disarm();
}

asio::awaitable<void> UpstreamSession::abort() {
  broken_ = true;
  stream_->close_now();
  co_return;
}

}  // namespace tlsrelay::proxy

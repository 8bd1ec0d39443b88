#include "smtp_session.hpp"

#include "log.hpp"
#include "raw_tls.hpp"
#include "tls_server.hpp"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>

namespace tlsrelay::testpeer {

namespace {

// banner-http: how long a "web server" waits for a request before answering anyway.
constexpr int kHttpWaitMs = 1000;

constexpr std::string_view kSshBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";

std::string http_400() {
  const std::string body =
      "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
      "<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n"
      "</body>\r\n</html>\r\n";
  return "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Credentials never reach the log: AUTH PLAIN and LOGIN may carry them in the command line.
std::string loggable(const std::string& line) {
  if (line.size() <= 5 || strncasecmp(line.c_str(), "AUTH ", 5) != 0) return line;
  const auto space = line.find(' ', 5);
  return space == std::string::npos ? line : line.substr(0, space) + " ***";
}

Ending ended_by_read(PeerStream::LineStatus status, const PeerStream& stream) {
  switch (status) {
    case PeerStream::LineStatus::Closed:
      return {CloseMode::Now, "client-closed detail=" + quote(stream.last_error())};
    case PeerStream::LineStatus::Timeout:
      return {CloseMode::Graceful, "idle-timeout"};
    default:
      return {CloseMode::Now, "read-error detail=" + quote(stream.last_error())};
  }
}

}  // namespace

SmtpSession::SmtpSession(int fd, unsigned long id, const SessionConfig& config)
    : fd_(fd), id_(id), config_(config), stream_(fd, config.capture), dialogue_(config.dialogue) {}

void SmtpSession::log(const std::string& text) const {
  log_event("conn=" + std::to_string(id_) + " " + text);
}

Ending SmtpSession::run() {
  set_deadlines(fd_, config_.idle_timeout);
  if (is_foreign_service(config_.dialogue.behaviour.kind)) return run_foreign_service();

  if (config_.dialogue.tls_mode == TlsMode::Implicit) {
    if (auto end = begin_tls()) return *end;
    dialogue_.on_tls_started();
  }
  SmtpDialogue::Step step = dialogue_.greeting();
  if (auto end = send_reply(step.reply)) return *end;
  if (step.next == SmtpDialogue::Next::Close) return {CloseMode::Graceful, "greeting-close"};

  std::string line;
  for (;;) {
    const auto status = stream_.read_line(line, kMaxLineOctets);
    const SmtpDialogue::State before = dialogue_.state();
    if (status == PeerStream::LineStatus::TooLong) {
      log("event=line-too-long");
      step = dialogue_.on_line_too_long();
    } else if (status == PeerStream::LineStatus::Line) {
      const bool in_data = dialogue_.state() == SmtpDialogue::State::Data;
      if (dialogue_.expects_secret()) {
        log("event=recv line=\"***\"");
      } else if (!in_data) {
        log("event=recv line=" + quote(loggable(line)));
      }
      step = dialogue_.on_line(line);
    } else {
      return ended_by_read(status, stream_);
    }
    if (dialogue_.state() != before) {
      log("event=state from=" + std::string(to_string(before)) +
          " to=" + std::string(to_string(dialogue_.state())));
    }
    if (auto end = send_reply(step.reply)) return *end;
    if (step.next == SmtpDialogue::Next::Close) {
      stream_.shutdown_tls();
      return {CloseMode::Graceful, "quit"};
    }
    if (step.next == SmtpDialogue::Next::StartTls) {
      // RFC 3207 4 / CVE-2011-0411: anything the client sent before the handshake must not
      // survive into the TLS session.
      if (const std::size_t dropped = stream_.discard_buffered(); dropped > 0)
        log("event=discard-plaintext bytes=" + std::to_string(dropped));
      if (auto end = begin_tls()) return *end;
      dialogue_.on_tls_started();
    }
  }
}

std::optional<Ending> SmtpSession::send_reply(const std::string& reply) {
  if (reply.empty()) return std::nullopt;
  log("event=send reply=" + quote(reply, 300));
  const IoStatus status = stream_.send(reply);
  if (status == IoStatus::Ok) return std::nullopt;
  return Ending{CloseMode::Now, "send-failed detail=" + quote(stream_.last_error())};
}

Ending SmtpSession::run_foreign_service() {
  switch (config_.dialogue.behaviour.kind) {
    case Behaviour::Silent: {
      const std::size_t seen = drain_until_closed(fd_);
      return {CloseMode::Now, "silent-done bytes_received=" + std::to_string(seen)};
    }
    case Behaviour::BannerSsh: {
      send_all(fd_, kSshBanner);
      const std::size_t seen = drain_until_closed(fd_);
      return {CloseMode::Now, "ssh-done bytes_received=" + std::to_string(seen)};
    }
    case Behaviour::BannerHttp: {
      pollfd pfd{fd_, POLLIN, 0};
      std::size_t seen = 0;
      if (::poll(&pfd, 1, kHttpWaitMs) > 0) {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) seen = static_cast<std::size_t>(n);
      }
      send_all(fd_, http_400());
      return {CloseMode::Graceful, "http-400 bytes_received=" + std::to_string(seen)};
    }
    default:
      return {CloseMode::Graceful, "not-a-foreign-service"};
  }
}

std::optional<Ending> SmtpSession::begin_tls() {
  if (acts_on_client_hello(config_.dialogue.behaviour.kind)) return play_client_hello_trick();
  if (config_.tls == nullptr) return Ending{CloseMode::Graceful, "tls-not-configured"};
  if (!stream_.start_tls(config_.tls)) {
    log("event=tls-failed error=" + quote(stream_.last_error(), 400));
    return Ending{CloseMode::Graceful, "tls-failed"};
  }
  log("event=tls-established " + describe_session(stream_.ssl()));
  if (config_.capture != nullptr) config_.capture->note(id_, "tls-established");
  return std::nullopt;
}

Ending SmtpSession::play_client_hello_trick() {
  const BehaviourSpec& behaviour = config_.dialogue.behaviour;
  RecordRead hello = read_record(fd_);
  log("event=client-hello bytes=" + std::to_string(hello.bytes.size()) +
      " status=" + std::string(to_string(hello.status)) +
      (hello.looks_tls ? "" : " not_tls=" + quote(hello.bytes)));
  if (hello.bytes.empty()) return {CloseMode::Now, "closed-before-client-hello"};

  switch (behaviour.kind) {
    case Behaviour::RstAfterClientHello:
      return {CloseMode::Reset, "rst-after-client-hello"};
    case Behaviour::EofAfterClientHello:
      return {CloseMode::Graceful, "eof-after-client-hello"};
    case Behaviour::StallAfterClientHello: {
      const std::size_t seen = drain_until_closed(fd_);
      return {CloseMode::Now, "stalled bytes_received=" + std::to_string(seen)};
    }
    case Behaviour::Alert: {
      send_all(fd_, fatal_alert_record(behaviour.alert));
      log("event=alert-sent alert=" + alert_name(behaviour.alert));
      return {CloseMode::Graceful, "alert-sent"};
    }
    case Behaviour::PartialFlight: {
      if (config_.tls == nullptr) return {CloseMode::Graceful, "tls-not-configured"};
      const Flight flight = first_server_flight(config_.tls, fd_, std::move(hello.bytes));
      const std::size_t n = std::min(behaviour.flight_bytes, flight.bytes.size());
      log("event=partial-flight flight_bytes=" + std::to_string(flight.bytes.size()) + " sent=" +
          std::to_string(n) + (flight.error.empty() ? "" : " error=" + quote(flight.error, 400)));
      if (n == flight.bytes.size()) log("event=warning text=\"whole flight fits in N\"");
      send_all(fd_, std::string_view(flight.bytes).substr(0, n));
      const std::size_t seen = drain_until_closed(fd_);
      return {CloseMode::Now,
              "stalled-after-partial-flight bytes_received=" + std::to_string(seen)};
    }
    default:
      return {CloseMode::Graceful, "no-trick"};
  }
}

}  // namespace tlsrelay::testpeer

// One client connection of the SMTP peer: carries out the dialogue's steps on the socket,
// performs STARTTLS/implicit TLS, and plays the behaviours that live below SMTP (a foreign
// service on the port, or a raw trick in place of the TLS handshake).
// Limits: blocking I/O under one idle deadline per read/write; the session never closes
// the socket itself but says how it must be closed, so the listener can first forget it.
// Thread-safety: one thread per session; the shared TLS context and capture are thread-safe.
#pragma once

#include "capture.hpp"
#include "peer_stream.hpp"
#include "smtp_dialogue.hpp"

#include <openssl/ssl.h>

#include <chrono>
#include <optional>
#include <string>

namespace tlsrelay::testpeer {

struct SessionConfig {
  DialogueConfig dialogue;
  SSL_CTX* tls = nullptr;  // null when --tls none
  Capture* capture = nullptr;
  std::chrono::seconds idle_timeout{600};
};

enum class CloseMode {
  Graceful,  // FIN, then wait briefly for the client's FIN
  Reset,     // RST (SO_LINGER 0)
  Now,       // the client is already gone: just close
};

struct Ending {
  CloseMode mode = CloseMode::Graceful;
  std::string reason;  // for the log: a token ("quit", "tls-failed"), then optional key=value
};

class SmtpSession {
 public:
  SmtpSession(int fd, unsigned long id, const SessionConfig& config);

  // Runs the connection to its end; the caller closes the fd as the Ending says.
  Ending run();

 private:
  Ending run_foreign_service();
  // nullopt when TLS is up and the dialogue goes on; otherwise how the connection ends.
  std::optional<Ending> begin_tls();
  Ending play_client_hello_trick();
  std::optional<Ending> send_reply(const std::string& reply);
  void log(const std::string& text) const;

  int fd_;
  unsigned long id_;
  const SessionConfig& config_;
  PeerStream stream_;
  SmtpDialogue dialogue_;
};

}  // namespace tlsrelay::testpeer

// `tlsrelay-testpeer smtp`: the listener. Binds, prints "ready PORT" on stdout, accepts
// connections and runs one SmtpSession per connection on its own thread until SIGTERM/SIGINT
// or (with --watch-stdin) end of stdin; then it unblocks and waits for the sessions.
// Limits: at most kMaxConnections at once (more are closed on accept); shutdown waits at
// most a few seconds for sessions before the process exits anyway.
// Thread-safety: run_smtp_peer() is called once, from main(), before any other thread.
#pragma once

#include "endpoint.hpp"
#include "smtp_dialogue.hpp"
#include "tls_server.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace tlsrelay::testpeer {

struct SmtpPeerOptions {
  Endpoint listen;
  std::string listen_text = "127.0.0.1:0";
  DialogueConfig dialogue;
  TlsServerOptions tls;
  std::optional<std::string> capture_path;
  bool watch_stdin = false;
  std::chrono::seconds idle_timeout{600};
  // Only the first N connections play the behaviour; later ones are normal (0 = all).
  // A server that fails once and then works is what a retry policy is for.
  unsigned long misbehave_first = 0;
};

// Returns the process exit status; throws std::runtime_error on a start-up failure.
int run_smtp_peer(const SmtpPeerOptions& options);

}  // namespace tlsrelay::testpeer

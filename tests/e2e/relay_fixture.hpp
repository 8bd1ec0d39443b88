// The relay end to end, shared by its test files: `tlsrelay serve` with a config written
// per test (the given upstreams, extra [proxy] lines), and the small client steps the tests
// repeat. Everything waits bounded; nothing sleeps as synchronisation.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/smtp_client.hpp"

namespace tlsrelay::e2e {

struct Upstream {
  std::string toml;  // one [[upstream]] table
};

// A test peer on 127.0.0.1:port, verified as mx.test.
Upstream peer_upstream(const std::string& name, unsigned short port);

// How often `what` occurs in `text` (overlapping occurrences included).
std::size_t occurrences(const std::string& text, const std::string& what);

// A relay with its config, event log and the given upstreams; extra goes into [proxy].
class Relay {
 public:
  // `wrapper` runs before the daemon's argv (an environment for it, say).
  Relay(const std::vector<Upstream>& upstreams, const std::string& proxy_extra = "",
        const std::string& tail = "", const std::string& tls_extra = "",
        std::vector<std::string> wrapper = {}) {
    config_ = dir_.path() + "/relay.toml";
    events_ = dir_.path() + "/events.jsonl";
    std::ofstream f(config_);
    f << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
      << proxy_extra << "\n[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
      << tls_extra << "\n[log]\nevents = \"" << events_ << "\"\n\n";
    for (const auto& u : upstreams) f << u.toml << "\n";
    f << tail;
    f.close();
    wrapper.insert(wrapper.end(), {tlsrelay_bin(), "serve", "--config", config_});
    server_ = std::make_unique<Server>(std::move(wrapper));
  }
  unsigned short port() const { return server_->port(); }
  // The event log is written by a background thread: wait (bounded) for `lines` records.
  std::string events(std::size_t lines = 1) const {
    std::string text;
    for (int i = 0; i < 400; ++i) {
      text = read_file(events_);
      if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) >= lines) break;
      poll(nullptr, 0, 10);
    }
    return text;
  }
  std::string log() const { return server_->stderr_text(); }
  pid_t pid() const { return server_->pid(); }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string config_, events_;
  std::unique_ptr<Server> server_;
};

// Waits (bounded) for the relay to log a phrase: reload results are only visible there.
bool wait_for_log(const Relay& relay, const std::string& phrase);

// EHLO, MAIL, RCPT, DATA; returns the reply to the final dot.
std::string send_message(SmtpClient& c, const std::string& body,
                         const std::string& rcpt = "<b@example.org>");

// One message in its own session; returns the final reply (or the reply that ended it early).
std::string relay_one(unsigned short port, const std::string& mail_params = "");

// GET http://127.0.0.1:port/path with curl; the body (the test fails when curl does).
std::string http_get(unsigned short port, const std::string& path);

// A plain TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address is this
// host, so that one test can be many clients); the socket, or -1.
int connect_from(unsigned short port, const std::string& source);

// Waits (bounded) until /metrics has the sample line `sample` ("name{labels} value").
bool wait_for_metric(unsigned short http, const std::string& sample);

}  // namespace tlsrelay::e2e

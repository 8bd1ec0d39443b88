// The integration rig for tests: a real Postfix in front (integration/postfix-instance.sh),
// `tlsrelay serve`, tlsrelay-faultinject, and a real Postfix smarthost with STARTTLS and SASL
// AUTH (integration/smarthost.sh). Each piece is started on its own ports in its own temporary
// directory and stopped by process id when it goes out of scope, also when a test fails.
//
// Needs root (Postfix instances in mount namespaces). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/process.hpp"
#include "tests/e2e/smtp_client.hpp"

namespace tlsrelay::integration {

// Polls `ready` every 50 ms until it holds or `limit` passes; the last answer.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit);

// Wall-clock seconds since the epoch (to correlate with Postfix's log).
double wall_now();

const std::string& faultinject_bin();

// The soak's fault mix for tlsrelay-faultinject: every 25 connections, 22 faults, one per
// phase (and a few twice, differently), 3 clean. flight=7/8 and reply=11 are the second
// transaction on a reused connection (RSET, MAIL, and the reply to its final dot).
extern const char* const kSoakPlan;

class Smarthost {
 public:
  explicit Smarthost(const std::string& cert_dir);
  ~Smarthost();
  Smarthost(const Smarthost&) = delete;
  Smarthost& operator=(const Smarthost&) = delete;

  unsigned short port() const { return port_; }
  std::string maillog() const;
  bool queue_empty() const;
  // Serves NAME.key / NAME.chain.pem from the certificate directory (postfix reload).
  void set_cert(const std::string& name);
  // Every delivered message's value of `header` (one entry per delivery), from the Maildir.
  std::vector<std::string> delivered(const std::string& header) const;
  // Every delivered message whole, as the Maildir holds it (LF line ends).
  std::vector<std::string> delivered_messages() const;
  static const std::string& user();
  static const std::string& password();

 private:
  std::string script(const std::string& cmd) const;
  e2e::TempDir dir_;
  unsigned short port_;
};

class FrontPostfix {
 public:
  // `extra`: main.cf settings, one "name = value" a line, set over the rig's own.
  explicit FrontPostfix(unsigned short relay_port, const std::string& extra = "");
  // `relayhost`: Postfix's relayhost as it is, e.g. a list "[127.0.0.2]:P1, [127.0.0.3]:P2".
  explicit FrontPostfix(const std::string& relayhost, const std::string& extra = "");
  ~FrontPostfix();
  FrontPostfix(const FrontPostfix&) = delete;
  FrontPostfix& operator=(const FrontPostfix&) = delete;

  unsigned short port() const { return port_; }
  std::string maillog() const;
  std::string queue() const;  // postqueue -j
  bool queue_empty() const;
  void flush() const;
  // postsuper -h QUEUE_ID: no more tries until released (postsuper -H ALL).
  void hold(const std::string& queue_id) const;
  void release_all() const;

 private:
  e2e::TempDir dir_;
  unsigned short port_;
};

class Injector {
 public:
  Injector(unsigned short target_port, const std::string& plan, std::uint64_t seed = 1);
  unsigned short port() const { return server_->port(); }
  // Sends one control command ("plan SPEC", "off", "stats"); returns the answer line.
  std::string ctl(const std::string& command) const;
  std::string log() const;
  // The points at which faults fired, counted ("reply=6" -> 3).
  std::map<std::string, int> fired() const;

 private:
  e2e::TempDir dir_;
  unsigned short control_port_;
  std::string log_path_;
  std::unique_ptr<e2e::Server> server_;
};

// Where one `tlsrelay serve` of several listens and what it calls itself: a fleet of
// instances on loopback addresses of their own, each with its own EHLO name (which the
// smarthost's Received: header keeps) and, with `http`, its own /metrics.
struct RelayInstance {
  std::string address = "127.0.0.1";
  std::string hostname = "relay.test";
  bool http = false;
};

// `tlsrelay serve` on a fixed port (so that it can be killed and restarted under Postfix),
// with one upstream, AUTH, short time-outs, and `extra` appended to the config.
class Relay {
 public:
  // reuse = false: no upstream connection pool and no TLS session resumption, so every
  // message opens a connection with a full handshake (and passes through every phase the
  // injector may hit, and sees a swapped certificate at once).
  Relay(unsigned short upstream_port, const std::string& ca_file, const std::string& extra = "",
        bool reuse = true, const RelayInstance& instance = {});
  unsigned short port() const { return port_; }
  const std::string& address() const { return instance_.address; }
  // "[ADDRESS]:PORT", as Postfix's relayhost names it.
  std::string nexthop() const;
  // With RelayInstance::http: GET /metrics (Prometheus text) over HTTP; "" while the
  // daemon is down or not yet serving.
  std::string metrics() const;
  pid_t pid() const { return server_ ? server_->pid() : -1; }
  void kill9();
  void restart();
  // The daemon's stderr over every run, and its event log.
  std::string log() const;
  std::string events() const;

 private:
  void start();
  e2e::TempDir dir_;
  RelayInstance instance_;
  unsigned short port_;
  unsigned short http_port_ = 0;
  std::string config_;
  std::string earlier_log_;
  std::unique_ptr<e2e::Server> server_;
};

// A blocking SMTP submission of messages into a server (the front Postfix), one session.
class Submitter {
 public:
  explicit Submitter(unsigned short port);
  ~Submitter();
  // One message whose `X-Soak-Id:` header is `id`, `body_bytes` of body; true on 250.
  bool send(const std::string& id, std::size_t body_bytes, const std::string& to);

 private:
  std::unique_ptr<e2e::SmtpClient> client_;
};

// A deferral as Postfix logged it: the reason in its "status=deferred (...)" and the class
// id in it (tlsrelay's), or how Postfix itself failed to reach tlsrelay.
struct Deferral {
  std::string queue_id;
  std::string reason;
  std::string kind;  // a tlsrelay class id; "no-class-id"; or "postfix:connect-refused" ...
  bool from_tlsrelay = false;  // the reason is a reply of tlsrelay ("... said: 451 ...")
  double time = 0;             // seconds since the epoch (this year), from the log line
};
std::vector<Deferral> deferrals(const std::string& maillog);

// The tlsrelay class id a reply names ("... NAME HOST[ADDR]:PORT CLASS: hint"), or "".
std::string class_in(const std::string& reason);

// queue id -> X-Soak-Id / Message-ID local part from the front's cleanup lines.
std::map<std::string, std::string> message_ids(const std::string& maillog);

}  // namespace tlsrelay::integration

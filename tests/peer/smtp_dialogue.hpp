// The SMTP server side of the test peer as a pure state machine: it takes the client's lines
// and returns what to send and what to do next (keep reading, start TLS, read DATA, close).
// The session (smtp_session.hpp) carries those steps out on the socket. The greeting and
// EHLO/STARTTLS/AUTH misbehaviours live here; handshake tricks live in the session.
// Limits: no message is stored; AUTH supports PLAIN and LOGIN only (RFC 4954, 4616).
// Thread-safety: one instance per connection; queue ids come from a process-wide atomic.
#pragma once

#include "smtp_behaviour.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

enum class TlsMode { StartTls, Implicit, None };

struct Credentials {
  std::string user;
  std::string password;
};

struct DialogueConfig {
  BehaviourSpec behaviour;
  TlsMode tls_mode = TlsMode::StartTls;
  std::optional<Credentials> credentials;
  // Recipients (the text between < and >, case-insensitive) answered with a permanent
  // "550 5.1.1 ... User unknown", as a smarthost does for one bad address of many.
  std::vector<std::string> reject_recipients;
  // More EHLO keywords to offer (e.g. REQUIRETLS); their MAIL parameters are accepted.
  std::vector<std::string> extensions;
  // The reply to the final dot instead of "250 2.0.0 Ok: queued as N" (a hostile one, say).
  std::optional<std::string> data_reply;
};

// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, but we accept up to 1000 like
// a text line (4.5.3.1.6) so that long MAIL parameters are not what a test trips over.
constexpr std::size_t kMaxLineOctets = 1000;

class SmtpDialogue {
 public:
  enum class State {
    Command,            // waiting for a command
    Refused,            // banner-554: every command but QUIT gets 503 (RFC 5321 3.1)
    AuthPlain,          // after "334 " for AUTH PLAIN without an initial response
    AuthLoginUser,      // after "334 VXNlcm5hbWU6"
    AuthLoginPassword,  // after "334 UGFzc3dvcmQ6"
    AuthXoauth2Error,   // after a failed XOAUTH2: the 334 error challenge, awaiting "" (Gmail)
    Data,               // after 354, until the lone "."
    Closed,
  };
  enum class Next { Continue, StartTls, Close };
  struct Step {
    std::string reply;  // complete reply octets, CRLFs included; may be empty
    Next next = Next::Continue;
  };

  explicit SmtpDialogue(DialogueConfig config) : config_(std::move(config)) {}

  Step greeting();
  Step on_line(std::string_view line);
  Step on_line_too_long();
  // After a successful handshake: RFC 3207 4.2 discards all knowledge from before TLS.
  void on_tls_started();

  State state() const { return state_; }
  bool in_tls() const { return in_tls_; }
  // True while the next line is an AUTH credential, so the log can hide it.
  bool expects_secret() const {
    return state_ == State::AuthPlain || state_ == State::AuthLoginUser ||
           state_ == State::AuthLoginPassword;
  }

 private:
  Step on_command(std::string_view verb, std::string_view args);
  Step on_ehlo(std::string_view args);
  Step on_helo(std::string_view args);
  Step on_starttls(std::string_view args);
  Step on_auth(std::string_view args);
  Step on_auth_line(std::string_view line);
  Step on_data_line(std::string_view line);
  Step finish_auth(bool success);
  bool offers_starttls() const;
  bool offers_auth() const;
  bool check(std::string_view user, std::string_view password) const;
  void reset_transaction();
  void enter(State next) { state_ = next; }

  DialogueConfig config_;
  State state_ = State::Command;
  bool in_tls_ = false;
  bool greeted_ = false;  // HELO/EHLO seen (since TLS started)
  bool authenticated_ = false;
  bool have_mail_ = false;
  unsigned recipients_ = 0;
  std::string login_user_;
};

std::string_view to_string(SmtpDialogue::State state);

}  // namespace tlsrelay::testpeer

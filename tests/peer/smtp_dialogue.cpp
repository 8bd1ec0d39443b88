#include "smtp_dialogue.hpp"

#include "base64.hpp"

#include <atomic>
#include <cassert>

namespace tlsrelay::testpeer {

namespace {

std::atomic<unsigned long> next_queue_id{1};

constexpr std::string_view kHost = "mx.test";

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && upper(text.substr(0, prefix.size())) == prefix;
}

std::string line(std::string_view text) {
  return std::string(text) + "\r\n";
}

SmtpDialogue::Step reply(std::string_view text) {
  return {line(text)};
}

}  // namespace

std::string_view to_string(SmtpDialogue::State state) {
  switch (state) {
    case SmtpDialogue::State::Command:
      return "command";
    case SmtpDialogue::State::Refused:
      return "refused";
    case SmtpDialogue::State::AuthPlain:
      return "auth-plain";
    case SmtpDialogue::State::AuthLoginUser:
      return "auth-login-user";
    case SmtpDialogue::State::AuthLoginPassword:
      return "auth-login-password";
    case SmtpDialogue::State::AuthXoauth2Error:
      return "auth-xoauth2-error";
    case SmtpDialogue::State::Data:
      return "data";
    case SmtpDialogue::State::Closed:
      return "closed";
  }
  return "?";
}

SmtpDialogue::Step SmtpDialogue::greeting() {
  switch (config_.behaviour.kind) {
    case Behaviour::Banner554:
      enter(State::Refused);
      return reply("554 5.7.1 mx.test ESMTP not accepting connections from you");
    case Behaviour::Banner421:
      enter(State::Closed);
      return {line("421 4.3.2 mx.test Service not available, closing channel"), Next::Close};
    case Behaviour::BannerEndlessLine:
      // A client that buffers a reply line without bound runs out of memory here.
      return {"220 " + std::string(1 << 20, 'x')};
    default:
      return reply("220 mx.test ESMTP tlsrelay-testpeer");
  }
}

void SmtpDialogue::on_tls_started() {
  in_tls_ = true;
  greeted_ = false;
  authenticated_ = false;
  reset_transaction();
  enter(State::Command);
}

void SmtpDialogue::reset_transaction() {
  have_mail_ = false;
  recipients_ = 0;
}

bool SmtpDialogue::offers_starttls() const {
  return config_.tls_mode == TlsMode::StartTls && !in_tls_ &&
         config_.behaviour.kind != Behaviour::NoStarttls;
}

bool SmtpDialogue::offers_auth() const {
  switch (config_.behaviour.kind) {
    case Behaviour::NoAuthAfterTls:
      return !in_tls_;
    case Behaviour::AuthFail:
      return in_tls_ || config_.tls_mode == TlsMode::None;
    default:
      // Credentials never travel in clear unless the listener has no TLS at all.
      return config_.credentials && (in_tls_ || config_.tls_mode == TlsMode::None);
  }
}

bool SmtpDialogue::check(std::string_view user, std::string_view password) const {
  if (config_.behaviour.kind == Behaviour::AuthFail || !config_.credentials) return false;
  return user == config_.credentials->user && password == config_.credentials->password;
}

SmtpDialogue::Step SmtpDialogue::on_line_too_long() {
  switch (state_) {
    case State::Data:
      return {};
    case State::AuthPlain:
    case State::AuthLoginUser:
    case State::AuthLoginPassword:
      enter(State::Command);
      return reply("501 5.5.2 Error: line too long");
    case State::Closed:
      return {"", Next::Close};
    default:
      return reply("500 5.5.0 Error: line too long");
  }
}

SmtpDialogue::Step SmtpDialogue::on_line(std::string_view text) {
  switch (state_) {
    case State::Closed:
      return {"", Next::Close};
    case State::Data:
      return on_data_line(text);
    case State::AuthPlain:
    case State::AuthLoginUser:
    case State::AuthLoginPassword:
      return on_auth_line(text);
    case State::AuthXoauth2Error:
      // Whatever the client answers to the error challenge, the exchange fails.
      return finish_auth(false);
    case State::Refused:
    case State::Command:
      break;
  }
  const auto space = text.find(' ');
  const std::string verb = upper(text.substr(0, space));
  const std::string_view args =
      space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  if (verb == "QUIT") {
    enter(State::Closed);
    return {line("221 2.0.0 Bye"), Next::Close};
  }
  if (state_ == State::Refused) return reply("503 5.5.1 Error: bad sequence of commands");
  return on_command(verb, args);
}

SmtpDialogue::Step SmtpDialogue::on_command(std::string_view verb, std::string_view args) {
  if (verb.empty()) return reply("500 5.5.2 Error: bad syntax");
  if (verb == "EHLO") return on_ehlo(args);
  if (verb == "HELO") return on_helo(args);
  if (verb == "STARTTLS") return on_starttls(args);
  if (verb == "AUTH") return on_auth(args);
  if (verb == "NOOP") return reply("250 2.0.0 Ok");
  if (verb == "RSET") {
    reset_transaction();
    return reply("250 2.0.0 Ok");
  }
  if (verb == "MAIL") {
    if (!greeted_) return reply("503 5.5.1 Error: send HELO/EHLO first");
    if (have_mail_) return reply("503 5.5.1 Error: nested MAIL command");
    if (!starts_with_nocase(args, "FROM:")) return reply("501 5.5.4 Syntax: MAIL FROM:<address>");
    have_mail_ = true;
    return reply("250 2.1.0 Ok");
  }
  if (verb == "RCPT") {
    if (!have_mail_) return reply("503 5.5.1 Error: need MAIL command");
    if (!starts_with_nocase(args, "TO:")) return reply("501 5.5.4 Syntax: RCPT TO:<address>");
    for (const auto& bad : config_.reject_recipients) {
      const std::string path = upper("<" + bad + ">");  // starts_with_nocase wants upper case
      if (args.size() >= 3 + path.size() &&
          starts_with_nocase(std::string_view(args).substr(3), path)) {
        return reply("550 5.1.1 <" + bad + ">: Recipient address rejected: User unknown");
      }
    }
    ++recipients_;
    return reply("250 2.1.5 Ok");
  }
  if (verb == "DATA") {
    if (recipients_ == 0) return reply("503 5.5.1 Error: need RCPT command");
    enter(State::Data);
    return reply("354 End data with <CR><LF>.<CR><LF>");
  }
  return reply("502 5.5.2 Error: command not recognized");
}

SmtpDialogue::Step SmtpDialogue::on_ehlo(std::string_view args) {
  if (config_.behaviour.kind == Behaviour::EhloReject) return reply("550 5.7.1 EHLO not allowed");
  if (args.empty()) return reply("501 5.5.4 Syntax: EHLO hostname");
  if (config_.behaviour.kind == Behaviour::EhloEndless) {
    // A client that collects a multi-line reply without bound runs out of memory here.
    std::string endless;
    for (int i = 0; i < 100000; ++i) endless += "250-X-FILLER-" + std::to_string(i) + "\r\n";
    return {endless};
  }
  greeted_ = true;
  reset_transaction();
  std::string out = "250-" + std::string(kHost) + "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n";
  if (offers_starttls()) {
    // A Cisco-style "SMTP fixup" overwrites the keyword with X's of the same length.
    out += config_.behaviour.kind == Behaviour::StarttlsMasked ? "250-XXXXXXXA\r\n"
                                                               : "250-STARTTLS\r\n";
  }
  if (offers_auth()) out += "250-AUTH PLAIN LOGIN XOAUTH2\r\n";
  for (const auto& e : config_.extensions) out += "250-" + e + "\r\n";
  // DSN (RFC 3461): its MAIL/RCPT parameters are accepted as they come, so a test can see
  // that the relay passes them on.
  out += "250-8BITMIME\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n";
  return {out};
}

SmtpDialogue::Step SmtpDialogue::on_helo(std::string_view args) {
  if (config_.behaviour.kind == Behaviour::EhloReject) return reply("550 5.7.1 HELO not allowed");
  if (args.empty()) return reply("501 5.5.4 Syntax: HELO hostname");
  greeted_ = true;
  reset_transaction();
  return reply("250 " + std::string(kHost));
}

SmtpDialogue::Step SmtpDialogue::on_starttls(std::string_view args) {
  if (in_tls_) return reply("554 5.5.1 Error: TLS already active");
  // The middlebox masks the command on its way in too, so the server never sees STARTTLS.
  if (config_.behaviour.kind == Behaviour::StarttlsMasked)
    return reply("502 5.5.2 Error: command not recognized");
  if (!offers_starttls()) return reply("502 5.5.1 Error: command not implemented");
  if (!args.empty()) return reply("501 5.5.4 Syntax: STARTTLS");
  if (config_.behaviour.kind == Behaviour::Starttls454)
    return reply("454 4.7.0 TLS not available due to local problem");
  if (config_.behaviour.kind == Behaviour::StarttlsInjection) {
    // CVE-2011-0411 style: plaintext that a careless client would read as post-TLS replies.
    // One string, so the session sends it in one send() call.
    return {"220 2.0.0 Ready to start TLS\r\n250-mx.test\r\n250 AUTH LOGIN\r\n", Next::StartTls};
  }
  return {line("220 2.0.0 Ready to start TLS"), Next::StartTls};
}

SmtpDialogue::Step SmtpDialogue::on_auth(std::string_view args) {
  if (!offers_auth()) return reply("503 5.5.1 Error: authentication not enabled");
  if (authenticated_) return reply("503 5.5.1 Error: already authenticated");
  if (have_mail_) return reply("503 5.5.1 Error: MAIL transaction in progress");
  const auto space = args.find(' ');
  const std::string mechanism = upper(args.substr(0, space));
  const std::string_view initial =
      space == std::string_view::npos ? std::string_view() : args.substr(space + 1);
  if (mechanism == "PLAIN") {
    enter(State::AuthPlain);
    // RFC 4954 4: an empty initial response is sent as "=".
    if (!initial.empty()) return on_auth_line(initial == "=" ? std::string_view() : initial);
    return {"334 \r\n"};
  }
  if (mechanism == "LOGIN") {
    enter(State::AuthLoginUser);
    if (!initial.empty()) return on_auth_line(initial);
    return reply("334 VXNlcm5hbWU6");
  }
  if (mechanism == "XOAUTH2") {
    // Google's SASL XOAUTH2: base64("user=" U "\x01" "auth=Bearer " TOKEN "\x01\x01") as the
    // initial response; the "password" configured for the peer is the token it accepts.
    const auto decoded = base64_decode(initial);
    const std::string_view d = decoded ? std::string_view(*decoded) : std::string_view();
    const auto user_end = d.find('\x01');
    const std::string_view bearer =
        "\x01"
        "auth=Bearer ";
    bool ok = decoded && d.starts_with("user=") && user_end != std::string_view::npos &&
              d.substr(user_end).starts_with(bearer) && d.ends_with("\x01\x01");
    if (ok) {
      const auto token_at = user_end + bearer.size();
      ok = check(d.substr(5, user_end - 5), d.substr(token_at, d.size() - 2 - token_at));
    }
    if (ok) return finish_auth(true);
    enter(State::AuthXoauth2Error);
    // base64 of {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}
    return {
        "334 "
        "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS"
        "8ifQ==\r\n"};
  }
  return reply("504 5.5.4 Error: unsupported authentication mechanism");
}

SmtpDialogue::Step SmtpDialogue::on_auth_line(std::string_view text) {
  if (text == "*") {
    enter(State::Command);
    return reply("501 5.7.0 Error: authentication aborted");
  }
  const auto decoded = base64_decode(text);
  if (!decoded) {
    enter(State::Command);
    return reply("501 5.5.2 Error: cannot decode response");
  }
  switch (state_) {
    case State::AuthPlain: {
      // RFC 4616 2: [authzid] NUL authcid NUL passwd.
      const auto first = decoded->find('\0');
      const auto second =
          first == std::string::npos ? std::string::npos : decoded->find('\0', first + 1);
      if (second == std::string::npos) return finish_auth(false);
      return finish_auth(check(std::string_view(*decoded).substr(first + 1, second - first - 1),
                               std::string_view(*decoded).substr(second + 1)));
    }
    case State::AuthLoginUser:
      login_user_ = *decoded;
      enter(State::AuthLoginPassword);
      return reply("334 UGFzc3dvcmQ6");
    case State::AuthLoginPassword:
      return finish_auth(check(login_user_, *decoded));
    default:
      assert(false && "on_auth_line outside an AUTH exchange");
      return {};
  }
}

SmtpDialogue::Step SmtpDialogue::finish_auth(bool success) {
  enter(State::Command);
  login_user_.clear();
  if (!success) return reply("535 5.7.8 Username and Password not accepted");
  authenticated_ = true;
  return reply("235 2.7.0 Authentication successful");
}

SmtpDialogue::Step SmtpDialogue::on_data_line(std::string_view text) {
  if (text != ".") return {};
  enter(State::Command);
  reset_transaction();
  if (config_.data_reply) return reply(*config_.data_reply);
  return reply("250 2.0.0 Ok: queued as " + std::to_string(next_queue_id++));
}

}  // namespace tlsrelay::testpeer

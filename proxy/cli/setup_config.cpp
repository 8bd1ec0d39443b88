#include "proxy/cli/setup_config.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tlsrelay::proxy {

std::optional<std::uint16_t> pick_port(std::uint16_t preferred,
                                       const std::set<std::uint16_t>& avoid,
                                       const std::function<bool(std::uint16_t)>& is_free) {
  for (unsigned p = preferred; p < preferred + 100u && p <= 65535u; ++p) {
    const auto port = static_cast<std::uint16_t>(p);
    if (avoid.count(port) > 0) continue;
    if (std::find(kWellKnownPorts.begin(), kWellKnownPorts.end(), port) != kWellKnownPorts.end()) {
      continue;
    }
    if (is_free(port)) return port;
  }
  return std::nullopt;
}

std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {

// "key = value" with its comment at a common column, as in examples/tlsrelay.toml.
class TomlWriter {
 public:
  void line(const std::string& text, const std::string& comment = "") {
    out_ << text;
    if (!comment.empty()) {
      out_ << std::string(text.size() < kColumn ? kColumn - text.size() : 1, ' ') << "# "
           << comment;
    }
    out_ << "\n";
  }
  void blank() { out_ << "\n"; }
  std::string text() const { return out_.str(); }

 private:
  static constexpr std::size_t kColumn = 44;
  std::ostringstream out_;
};

}  // namespace

// Comments say what each line is for and where it shows up elsewhere (Postfix, the
// milter), so that the file explains itself to whoever opens it next.
std::string render_config(const SetupValues& v) {
  const std::string relay = "127.0.0.1:" + std::to_string(v.relay_port);
  const std::string http = "127.0.0.1:" + std::to_string(v.http_port);
  TomlWriter w;
  w.line("# tlsrelay: written by `tlsrelay setup` on " + v.written_on + ", for Postfix.");
  w.line("# Postfix hands its outgoing mail to [proxy] listen (main.cf: relayhost = [127.0.0.1]:" +
         std::to_string(v.relay_port) + ");");
  w.line("# tlsrelay owns the TLS hop to the smarthost and names what goes wrong on it.");
  w.line("# Every key: man 5 tlsrelay.toml. After an edit: tlsrelay check-config THIS_FILE,");
  w.line("# then systemctl reload tlsrelay.");
  w.blank();

  w.line("[proxy]");
  w.line("listen = [" + toml_string(relay) + "]", "where Postfix connects (its relayhost)");
  w.line("allow_clients = [\"127.0.0.1/32\", \"::1/128\"]", "nobody else: never an open relay");
  w.line("hostname = " + toml_string(v.hostname), "our EHLO name to the smarthost");
  w.line("user = " + toml_string(v.service_user), "started as root, it runs as this user");
  w.blank();

  if (v.ca_file) {
    w.line("[tls]");
    w.line("ca_file = " + toml_string(*v.ca_file), "the smarthost's trust anchors");
    w.blank();
  }

  w.line("[[upstream]]");
  w.line("name = " + toml_string(kSmarthostName), "tlsrelay probe --config THIS_FILE tries it");
  w.line("host = " + toml_string(v.host), "also the name its certificate must show");
  w.line("port = " + std::to_string(v.port));
  w.line("tls = " + toml_string(std::string(to_string(v.tls))),
         v.tls == TlsMode::Implicit ? "TLS from the first byte (RFC 8314)"
                                    : "plain SMTP, then STARTTLS; always verified");
  if (v.connect) {
    w.line("connect = " + toml_string(*v.connect), "this address instead of the host's DNS");
  }
  if (v.auth_user) {
    w.line("auth_user = " + toml_string(*v.auth_user));
    const std::string alone = "alone, mode 0600, owner " + v.service_user;
    if (v.mechanism == AuthMechanism::Xoauth2) {
      w.line("auth_mechanism = \"xoauth2\"");
      w.line("oauth_token_file = " + toml_string(v.secret_path),
             "the access token " + alone + "; keep it fresh there");
    } else {
      if (v.mechanism != AuthMechanism::Auto) {
        w.line("auth_mechanism = " + toml_string(std::string(to_string(v.mechanism))));
      }
      w.line("auth_password_file = " + toml_string(v.secret_path), "the password " + alone);
    }
  }
  w.blank();

  if (v.events_log) {
    w.line("[log]");
    w.line("events = " + toml_string(*v.events_log), "one record per attempt: tlsrelay report");
    w.blank();
  }

  w.line("[http]");
  w.line("listen = " + toml_string(http), "status page (/), /status, /metrics");

  if (v.milter_port) {
    w.blank();
    w.line("[milter]", "for tlsrelay-milter, run by its own unit");
    w.line("socket = " + toml_string("inet:" + std::to_string(*v.milter_port) + "@127.0.0.1"),
           "Postfix: inet:127.0.0.1:" + std::to_string(*v.milter_port) + " in smtpd_milters");
    w.line("status_url = " + toml_string("http://" + http + "/status"),
           "the relay's [http] listen");
  }
  return w.text();
}

}  // namespace tlsrelay::proxy

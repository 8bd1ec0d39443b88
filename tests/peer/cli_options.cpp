#include "cli_options.hpp"

#include "smtp_behaviour.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace tlsrelay::testpeer {

namespace {

// Walks argv, handing out "--name value" and "--name=value" pairs.
class ArgCursor {
 public:
  explicit ArgCursor(const std::vector<std::string_view>& args) : args_(args) {}

  bool next() {
    if (index_ >= args_.size()) return false;
    const std::string_view arg = args_[index_++];
    if (arg.substr(0, 2) != "--")
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    const auto eq = arg.find('=');
    name_ = arg.substr(0, eq);
    inline_value_.reset();
    if (eq != std::string_view::npos) inline_value_ = arg.substr(eq + 1);
    return true;
  }
  std::string_view name() const { return name_; }
  std::string value() {
    if (inline_value_) return std::string(*inline_value_);
    if (index_ >= args_.size()) throw UsageError(std::string(name_) + " needs a value");
    return std::string(args_[index_++]);
  }
  void no_value() const {
    if (inline_value_) throw UsageError(std::string(name_) + " takes no value");
  }

 private:
  const std::vector<std::string_view>& args_;
  std::size_t index_ = 0;
  std::string_view name_;
  std::optional<std::string_view> inline_value_;
};

Endpoint endpoint_or_throw(const std::string& text) {
  const auto endpoint = parse_endpoint(text);
  if (!endpoint) throw UsageError("--listen wants ADDR:PORT or [V6]:PORT, got '" + text + "'");
  return *endpoint;
}

int int_or_throw(std::string_view option, const std::string& text, int min, int max) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    throw UsageError(std::string(option) + " wants a number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + text + "'");
  return value;
}

int tls_version_or_throw(std::string_view option, const std::string& text) {
  const auto version = parse_tls_version(text);
  if (!version) throw UsageError(std::string(option) + " wants 1.0, 1.1, 1.2 or 1.3");
  return *version;
}

DnsName name_or_throw(std::string_view option, std::string_view text) {
  DnsName name = parse_dns_name(text);
  if (name.empty())
    throw UsageError(std::string(option) + ": bad name '" + std::string(text) + "'");
  return name;
}

// "." is the root, which parse_dns_name() refuses: a Null MX points there (RFC 7505).
DnsName name_or_root_or_throw(std::string_view option, std::string_view text) {
  if (text == ".") return {};
  return name_or_throw(option, text);
}

// "NAME=VALUE" for the record options; form is the whole syntax, for the message. A name
// has no "=", so the first one ends it and the value may hold more.
std::pair<DnsName, std::string> name_and_value(std::string_view option, const std::string& text,
                                               std::string_view form) {
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw UsageError(std::string(option) + " wants " + std::string(form));
  return {name_or_throw(option, std::string_view(text).substr(0, eq)), text.substr(eq + 1)};
}

// "10:20:30" -> {"10", "20", "30"}: exactly count fields, the last one takes the rest.
std::vector<std::string> split_fields(std::string_view option, std::string_view text,
                                      std::size_t count, std::string_view form) {
  std::vector<std::string> fields;
  while (fields.size() + 1 < count) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos)
      throw UsageError(std::string(option) + " wants " + std::string(form));
    fields.emplace_back(text.substr(0, colon));
    text.remove_prefix(colon + 1);
  }
  fields.emplace_back(text);
  return fields;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hex_or_throw(std::string_view option, std::string_view text) {
  const UsageError bad(std::string(option) +
                       " wants a non-empty, even number of hex digits, got '" + std::string(text) +
                       "'");
  if (text.empty() || text.size() % 2 != 0) throw bad;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = hex_digit(text[i]), low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0) throw bad;
    out += static_cast<char>(high << 4 | low);
  }
  return out;
}

std::uint8_t octet_or_throw(std::string_view option, const std::string& text) {
  return static_cast<std::uint8_t>(int_or_throw(option, text, 0, 255));
}

}  // namespace

SmtpPeerOptions parse_smtp_options(const std::vector<std::string_view>& args) {
  SmtpPeerOptions options;
  options.listen = *parse_endpoint(options.listen_text);
  std::optional<std::string> user, password;
  bool cert_dir_given = false;
  ArgCursor arg(args);
  while (arg.next()) {
    const std::string_view name = arg.name();
    if (name == "--listen") {
      options.listen_text = arg.value();
      options.listen = endpoint_or_throw(options.listen_text);
    } else if (name == "--cert-dir") {
      options.tls.cert_dir = arg.value();
      cert_dir_given = true;
    } else if (name == "--cert") {
      options.tls.cert_name = arg.value();
    } else if (name == "--tls") {
      const std::string mode = arg.value();
      if (mode == "starttls")
        options.dialogue.tls_mode = TlsMode::StartTls;
      else if (mode == "implicit")
        options.dialogue.tls_mode = TlsMode::Implicit;
      else if (mode == "none")
        options.dialogue.tls_mode = TlsMode::None;
      else
        throw UsageError("--tls wants starttls, implicit or none");
    } else if (name == "--tls-min") {
      options.tls.min_version = tls_version_or_throw(name, arg.value());
    } else if (name == "--tls-max") {
      options.tls.max_version = tls_version_or_throw(name, arg.value());
    } else if (name == "--ciphers") {
      options.tls.ciphers = arg.value();
    } else if (name == "--seclevel") {
      options.tls.seclevel = int_or_throw(name, arg.value(), 0, 5);
    } else if (name == "--dh1024") {
      arg.no_value();
      options.tls.dh1024 = true;
    } else if (name == "--anonymous") {
      arg.no_value();
      options.tls.anonymous = true;
    } else if (name == "--cert-without-sni") {
      options.tls.cert_without_sni = arg.value();
    } else if (name == "--require-sni") {
      options.tls.require_sni = arg.value();
    } else if (name == "--require-client-cert") {
      arg.no_value();
      options.tls.require_client_cert = true;
    } else if (name == "--ocsp") {
      const std::string status = arg.value();
      if (!valid_ocsp_status(status)) throw UsageError(kOcspUsage);
      options.tls.ocsp = status;
    } else if (name == "--auth-user") {
      user = arg.value();
    } else if (name == "--auth-password") {
      password = arg.value();
    } else if (name == "--behaviour" || name == "--behavior") {
      const std::string text = arg.value();
      const auto behaviour = parse_behaviour(text);
      if (!behaviour)
        throw UsageError("unknown --behaviour '" + text +
                         "'; one of: " + std::string(behaviour_names()));
      options.dialogue.behaviour = *behaviour;
    } else if (name == "--capture") {
      options.capture_path = arg.value();
    } else if (name == "--watch-stdin") {
      arg.no_value();
      options.watch_stdin = true;
    } else if (name == "--data-reply") {
      options.dialogue.data_reply = arg.value();
    } else if (name == "--extension") {
      options.dialogue.extensions.push_back(arg.value());
    } else if (name == "--reject-rcpt") {
      options.dialogue.reject_recipients.push_back(arg.value());
    } else if (name == "--misbehave-first") {
      options.misbehave_first =
          static_cast<unsigned long>(int_or_throw(name, arg.value(), 1, 1000000));
    } else if (name == "--idle-timeout") {
      options.idle_timeout = std::chrono::seconds(int_or_throw(name, arg.value(), 1, 86400));
    } else {
      throw UsageError("unknown smtp option " + std::string(name));
    }
  }
  if (user.has_value() != password.has_value())
    throw UsageError("--auth-user and --auth-password go together");
  if (user) options.dialogue.credentials = Credentials{*user, *password};
  if (options.dialogue.tls_mode != TlsMode::None && !cert_dir_given)
    throw UsageError("--cert-dir is required unless --tls none");
  const Behaviour kind = options.dialogue.behaviour.kind;
  if (options.dialogue.tls_mode == TlsMode::None && acts_on_client_hello(kind))
    throw UsageError("--behaviour " + to_string(options.dialogue.behaviour) + " needs TLS");
  return options;
}

DnsPeerOptions parse_dns_options(const std::vector<std::string_view>& args) {
  DnsPeerOptions options;
  options.listen = *parse_endpoint(options.listen_text);
  ArgCursor arg(args);
  while (arg.next()) {
    const std::string_view name = arg.name();
    if (name == "--listen") {
      options.listen_text = arg.value();
      options.listen = endpoint_or_throw(options.listen_text);
    } else if (name == "--a") {
      const auto [dns_name, text] = name_and_value(name, arg.value(), "NAME=IPV4");
      std::array<unsigned char, 4> address{};
      if (inet_pton(AF_INET, text.c_str(), address.data()) != 1)
        throw UsageError("--a: bad IPv4 address '" + text + "'");
      options.zone.add_a(dns_name, address);
    } else if (name == "--aaaa") {
      const auto [dns_name, text] = name_and_value(name, arg.value(), "NAME=IPV6");
      std::array<unsigned char, 16> address{};
      if (inet_pton(AF_INET6, text.c_str(), address.data()) != 1)
        throw UsageError("--aaaa: bad IPv6 address '" + text + "'");
      options.zone.add_aaaa(dns_name, address);
    } else if (name == "--mx") {
      constexpr std::string_view kForm = "NAME=PREF:HOST (HOST \".\" for a Null MX)";
      const auto [dns_name, text] = name_and_value(name, arg.value(), kForm);
      const auto fields = split_fields(name, text, 2, kForm);
      const auto preference = static_cast<std::uint16_t>(int_or_throw(name, fields[0], 0, 65535));
      options.zone.add_mx(dns_name, preference, name_or_root_or_throw(name, fields[1]));
    } else if (name == "--txt") {
      const auto [dns_name, text] = name_and_value(name, arg.value(), "NAME=TEXT");
      if (text.size() > DnsZone::kMaxTxtOctets)
        throw UsageError("--txt: TEXT longer than " + std::to_string(DnsZone::kMaxTxtOctets) +
                         " octets");
      options.zone.add_txt(dns_name, text);
    } else if (name == "--tlsa") {
      constexpr std::string_view kForm = "NAME=USAGE:SELECTOR:MTYPE:HEX";
      const auto [dns_name, text] = name_and_value(name, arg.value(), kForm);
      const auto fields = split_fields(name, text, 4, kForm);
      options.zone.add_tlsa(dns_name, octet_or_throw(name, fields[0]),
                            octet_or_throw(name, fields[1]), octet_or_throw(name, fields[2]),
                            hex_or_throw(name, fields[3]));
    } else if (name == "--cname") {
      const auto [dns_name, text] = name_and_value(name, arg.value(), "NAME=TARGET");
      options.zone.add_cname(dns_name, name_or_throw(name, text));
    } else if (name == "--ad") {
      options.zone.add_authentic(name_or_root_or_throw(name, arg.value()));
    } else if (name == "--no-tcp") {
      arg.no_value();
      options.tcp = false;
    } else if (name == "--nxdomain") {
      options.zone.add_nxdomain(name_or_throw(name, arg.value()));
    } else if (name == "--servfail") {
      options.zone.add_servfail(name_or_throw(name, arg.value()));
    } else if (name == "--nodata") {
      options.zone.add_nodata(name_or_throw(name, arg.value()));
    } else if (name == "--watch-stdin") {
      arg.no_value();
      options.watch_stdin = true;
    } else {
      throw UsageError("unknown dns option " + std::string(name));
    }
  }
  return options;
}

std::string usage() {
  return R"(usage:
  tlsrelay-testpeer gen-certs DIR
  tlsrelay-testpeer smtp [options]
      --listen ADDR:PORT          default 127.0.0.1:0 ([::1]:0 for IPv6)
      --tls starttls|implicit|none   default starttls
      --cert-dir DIR --cert NAME  certificate set from gen-certs (default good)
      --tls-min V --tls-max V     V = 1.0 | 1.1 | 1.2 | 1.3
      --ciphers LIST --seclevel N
      --dh1024                    TLS 1.2 DHE with the RFC 2409 1024-bit group
      --anonymous                 only anonymous suites (aNULL, no certificate), TLS <= 1.2
      --require-sni NAME          unrecognized_name alert for a missing/other SNI
      --cert-without-sni NAME     certificate set for clients that send no SNI
      --require-client-cert       demand a client certificate (client-ca.pem)
      --ocsp STATUS               staple an OCSP response: good, revoked, revoked-sha256,
                                  forged-by-server, forged-by-root
      --auth-user U --auth-password P
      --behaviour B               )" +
         std::string(behaviour_names()) + R"(
      --capture FILE              append received plaintext to FILE
      --idle-timeout SECONDS      per read/write deadline (default 600)
      --misbehave-first N         only the first N connections misbehave
      --reject-rcpt ADDRESS       answer RCPT TO:<ADDRESS> with 550 5.1.1 (repeatable)
      --extension KEYWORD         also offer KEYWORD in EHLO, e.g. REQUIRETLS (repeatable)
      --data-reply TEXT           answer the final dot with TEXT (one reply line)
      --watch-stdin               stop when stdin reaches EOF
  tlsrelay-testpeer dns [options]
      --listen ADDR:PORT          UDP and TCP on the same port
      --a NAME=IPV4 --aaaa NAME=IPV6
      --mx NAME=PREF:HOST         HOST "." with PREF 0 is a Null MX
      --txt NAME=TEXT             one record; cut into strings of 255 octets
      --tlsa NAME=USAGE:SELECTOR:MTYPE:HEX
      --cname NAME=TARGET         the only answer at NAME, for every type
      --ad NAME                   NOERROR answers at or under NAME carry AD
      --nxdomain NAME --servfail NAME --nodata NAME
      --no-tcp                    UDP only: a truncated answer has no fallback
      --watch-stdin
Servers print "ready PORT" on stdout once they accept, and log to stderr.
)";
}

}  // namespace tlsrelay::testpeer

#include "proxy/cli/cli_args.hpp"

#include "config/config_error.hpp"
#include "config/loader.hpp"

#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cstdlib>

namespace tlsrelay::proxy {

std::string ArgCursor::option_name() const {
  std::string a = peek().substr(2);
  return a.substr(0, a.find('='));
}

std::string ArgCursor::take_value() {
  const std::string& a = peek();
  auto eq = a.find('=');
  if (eq != std::string::npos) {
    ++i_;
    return a.substr(eq + 1);
  }
  std::string name = a;
  ++i_;
  if (done()) throw UsageError(name + " needs a value");
  return args_[i_++];
}

void ArgCursor::skip_flag() {
  if (peek().find('=') != std::string::npos) {
    throw UsageError(peek().substr(0, peek().find('=')) + " takes no value");
  }
  ++i_;
}

std::string ArgCursor::take_positional() {
  return args_[i_++];
}

HostPort parse_host_port(const std::string& text) {
  HostPort hp;
  std::string port_text;
  if (text.empty()) throw UsageError("empty host");
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) throw UsageError("missing ']' in " + text);
    hp.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') throw UsageError("expected ':' after ']' in " + text);
      port_text = text.substr(close + 2);
    }
  } else if (text.find(':') != text.rfind(':')) {
    hp.host = text;  // a bare IPv6 literal
  } else {
    auto colon = text.find(':');
    hp.host = text.substr(0, colon);
    if (colon != std::string::npos) port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) throw UsageError("empty host in " + text);
  if (!port_text.empty() || text.back() == ':') {
    hp.port = static_cast<unsigned short>(parse_number("port", port_text, 1, 65535));
  }
  return hp;
}

double parse_number(const std::string& option, const std::string& text, double min, double max) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || v < min || v > max) {
    throw UsageError(option + " must be a number from " + std::to_string(static_cast<long>(min)) +
                     " to " + std::to_string(static_cast<long>(max)) + ", not \"" + text + "\"");
  }
  return v;
}

std::string this_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  return !ec;
}

config::Settings load_config_arg(const std::string& file) {
  try {
    return config::load_settings(file);
  } catch (const config::ConfigError& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
}

const config::UpstreamSettings& pick_upstream(const config::Settings& s, const std::string& file,
                                              const std::optional<std::string>& name) {
  const config::UpstreamSettings* u = nullptr;
  for (const auto& candidate : s.upstreams) {
    if (name ? candidate.name == *name : s.upstreams.size() == 1) u = &candidate;
  }
  if (!u) {
    std::string names;
    for (const auto& c : s.upstreams) names += (names.empty() ? "" : ", ") + c.name;
    throw UsageError(name ? "--upstream " + *name + ": " + file + " has no such upstream (it has " +
                                names + ")"
                          : "--upstream NAME is needed: " + file + " has " + names);
  }
  return *u;
}

}  // namespace tlsrelay::proxy

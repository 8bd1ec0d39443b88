// Command-line parsing shared by the tlsrelay subcommands: a usage error is a one-line
// reason and exit status 2 (../shared/spec/interfaces.md).
//
// Not thread-safe; used once at start-up.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace tlsrelay::proxy {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Walks argv: "--name value", "--name=value", flags, and positionals.
class ArgCursor {
 public:
  explicit ArgCursor(std::vector<std::string> args) : args_(std::move(args)) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  bool is_option() const { return !done() && peek().size() > 2 && peek().rfind("--", 0) == 0; }
  // The option's name without its "--" and without any "=value".
  std::string option_name() const;
  // The value of the current option ("--x v" or "--x=v"); advances past it.
  std::string take_value();
  void skip_flag();
  std::string take_positional();

 private:
  std::vector<std::string> args_;
  std::size_t i_ = 0;
};

struct HostPort {
  std::string host;
  std::optional<unsigned short> port;
};
// "mx.example.net", "mx.example.net:587", "192.0.2.1:25", "[2001:db8::1]:465", "::1".
HostPort parse_host_port(const std::string& text);
// A number in [min, max] or UsageError naming the option.
double parse_number(const std::string& option, const std::string& text, double min, double max);
// This host's name, the default EHLO name of probe and audit ("localhost" when it has none).
std::string this_host_name();
// An IPv4 or IPv6 address as text ("192.0.2.1", "2001:db8::1"), not a host name.
bool is_ip_literal(const std::string& host);

// --config FILE [--upstream NAME], shared by probe and audit: the settings (a config error
// becomes a UsageError), and the upstream NAME names, or the only one when NAME is absent.
// A missing or unknown NAME is a UsageError that lists the file's upstreams.
config::Settings load_config_arg(const std::string& file);
const config::UpstreamSettings& pick_upstream(const config::Settings& s, const std::string& file,
                                              const std::optional<std::string>& name);

}  // namespace tlsrelay::proxy

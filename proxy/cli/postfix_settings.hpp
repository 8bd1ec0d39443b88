// What `tlsrelay setup` reads of Postfix's settings, and the changes to main.cf that put
// tlsrelay in front of the smarthost, computed from the parameters' current values.
//
// Pure: the input is postconf's own output, which setup_command.cpp gets by running it:
// `postconf -n` (what main.cf sets, values as written, $references not expanded),
// `postconf -P` (master.cf's per-service -o overrides, "service/type/name = value") and
// `postconf -M` (the services). No I/O; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::proxy {

// name -> value, from "name = value" lines (postconf -n, postconf -P). Other lines are
// skipped.
using PostfixParameters = std::map<std::string, std::string, std::less<>>;
PostfixParameters parse_postconf(std::string_view text);

// One command that changes main.cf: what setup runs with --apply and prints for the admin.
struct PostfixChange {
  std::vector<std::string> argv;     // {"postconf", "-e", "relayhost = [127.0.0.1]:10587"}
  std::string why;                   // one line
  std::string command_line() const;  // argv shell-quoted, ready to paste
  friend bool operator==(const PostfixChange&, const PostfixChange&) = default;
};

struct PostfixPlan {
  std::vector<PostfixChange> changes;  // in the order to run them
  std::vector<std::string> advice;     // what setup never changes and the admin must check
};

// Where Postfix reaches tlsrelay on loopback.
struct RelayHop {
  std::uint16_t relay_port = 10587;
  std::optional<std::uint16_t> milter_port;  // with --milter
};

// The changes, given main.cf's parameters (postconf -n) and master.cf's overrides
// (postconf -P). Empty changes when Postfix already sends through this hop.
PostfixPlan plan_postfix(const PostfixParameters& main_cf, const PostfixParameters& overrides,
                         const RelayHop& hop);

// "[127.0.0.1]:PORT": brackets, so that Postfix does no MX lookup for it.
std::string relayhost_for(std::uint16_t port);
// Postfix's way to write the milter's socket, "inet:127.0.0.1:PORT" (libmilter, and
// tlsrelay.toml's [milter] socket, write it "inet:PORT@127.0.0.1").
std::string postfix_milter_socket(std::uint16_t port);

// A milter list (smtpd_milters, non_smtpd_milters) with `ours` appended after what is
// there, or nullopt when the list already holds it, also through a $parameter it names
// (non_smtpd_milters = $smtpd_milters) or as the socket of a { ... } group. Elements are
// separated by commas and/or white space, as Postfix reads them.
std::optional<std::string> append_milter(std::string_view list, std::string_view ours,
                                         const PostfixParameters& main_cf);

// Every TCP port Postfix's configuration names: the inet services of `postconf -M`
// ("127.0.0.1:10025 inet ...", "submission inet ...") and any ":PORT" in its lines and in
// main.cf's values (content_filter = amavis:[127.0.0.1]:10024, smtpd_milters =
// inet:localhost:8891). Generous on purpose: a port named in vain is only avoided.
std::set<std::uint16_t> ports_named(std::string_view services, const PostfixParameters& main_cf);

// `text` as one word for a POSIX shell: single-quoted unless it is plain.
std::string shell_quote(std::string_view text);

}  // namespace tlsrelay::proxy

// The fault plan of tlsrelay-faultinject: which connection gets which fault, and where in the
// SMTP/TLS dialogue it fires. Parsed from the spec language documented in
// integration/README.md, e.g. "1:reset@banner,%4=2:stall@flight=3,p0.1:close@after-dot,*:pass".
//
// Pure: no I/O, no clock. Rules are matched first-match by connection number (1-based, counted
// from the moment the plan was loaded); probabilities are a fixed function of (seed, number),
// so a plan and a seed always give the same schedule. Not thread-safe (plain values).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::faultinject {

enum class Action {
  Pass,       // forward everything
  Reset,      // RST both sides (SO_LINGER 0)
  Close,      // FIN both sides
  Stall,      // stop forwarding both directions, keep both sockets open
  StallUp,    // stop forwarding client -> server only; replies still flow
  StallDown,  // stop forwarding server -> client only
  CloseUp,    // half-close towards the server (it reads EOF); the other direction flows
  CloseDown,  // half-close towards the client
};

// Where a fault fires. Every point is a position in one direction's byte stream; the fault
// fires after `offset` bytes from that position have been forwarded (0: before its first
// byte).
enum class Point {
  Connect,        // at accept, before connecting to the target
  Banner,         // the server's first bytes (its greeting)
  Ehlo,           // the client's first EHLO/HELO line (in clear)
  Starttls,       // the client's STARTTLS line
  StarttlsReply,  // the server's reply to STARTTLS
  ClientHello,    // the client's first bytes after a 2xx to STARTTLS
  ServerHello,    // the server's first bytes after that
  Flight,         // the client's Nth flight after the TLS handshake (see README)
  Reply,          // the server's answer to flight N
  BytesUp,        // absolute offset N in the client -> server stream
  BytesDown,      // absolute offset N in the server -> client stream
};

struct Trigger {
  Point point = Point::Connect;
  std::uint64_t n = 0;       // Flight/Reply number, BytesUp/BytesDown offset
  std::uint64_t offset = 0;  // "+K": bytes of the unit forwarded before the fault fires
};

struct Selector {
  enum class Kind { Any, Range, Modulo, Probability } kind = Kind::Any;
  std::uint64_t first = 0, last = 0;  // Range (last = UINT64_MAX for "N+")
  std::uint64_t modulus = 0, remainder = 0;
  double probability = 0;
};

struct Rule {
  Selector selector;
  Action action = Action::Pass;
  Trigger trigger;
  std::string text;  // the rule as written, for logs
};

struct Plan {
  std::vector<Rule> rules;
};

// Parses a plan; on error returns nullopt and sets `error` to "at column C: what was expected".
std::optional<Plan> parse_plan(std::string_view spec, std::string& error);

// The rule for connection `number` (1-based): the first whose selector matches, or a pass rule.
Rule match(const Plan& plan, std::uint64_t number, std::uint64_t seed);

std::string to_string(Action a);
std::string to_string(const Trigger& t);

}  // namespace tlsrelay::faultinject

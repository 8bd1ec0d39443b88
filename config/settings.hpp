// The relay's configuration as typed, validated values: what config/loader.hpp produces
// from the TOML file of ../shared/spec/interfaces.md and docs/configuration.md documents.
//
// Plain data with the documented defaults as member initialisers (except hostname, which
// the loader fills from this machine's name). No toml++ types. Immutable once loaded;
// safe to share read-only between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <string_view>
#include <vector>
#include "common/modes.hpp"
#include "common/recurrence.hpp"

#include "config/cidr.hpp"
#include "config/config_error.hpp"
#include "config/ip_address.hpp"

namespace tlsrelay::config {

using Duration = std::chrono::milliseconds;

enum class MilterPolicy { Accept, Tempfail, Hold };
std::string_view to_string(MilterPolicy p);

// Per-command time-outs towards the local MTA and for upstream replies during the mail
// transaction (RFC 5321 4.5.3.2).
struct ProxyTimeouts {
  Duration command{std::chrono::seconds(300)};     // 4.5.3.2.7: waiting for the next command
  Duration data_block{std::chrono::seconds(180)};  // 4.5.3.2.5: between DATA blocks
  Duration data_done{std::chrono::seconds(600)};   // 4.5.3.2.6: reply to the final "."
};

struct ProxySettings {
  std::vector<SocketAddress> listen{{IpAddress::v4(127, 0, 0, 1), 10587}};
  std::vector<Cidr> allow_clients = default_allow_clients();
  std::string hostname;  // default: gethostname()
  std::uint64_t max_message_size = 52428800;
  std::uint64_t max_recipients = 1000;
  std::uint64_t max_line_length = 1000;  // RFC 5321 4.5.3.1.6 minimum, CRLF included
  BareNewlines bare_newlines = BareNewlines::Reject;
  std::optional<std::string> tls_cert;  // both or neither: STARTTLS offered to the local MTA
  std::optional<std::string> tls_key;
  std::optional<std::string> user;  // drop privileges to this user after binding
  ProxyTimeouts timeouts;
  std::uint64_t replay_memory_bytes = 1048576;
  std::uint64_t max_connections = 200;
  std::uint64_t max_connections_per_client = 50;
  // New connections from one client address per minute (Postfix's
  // smtpd_client_connection_rate_limit); 0: no limit.
  std::uint64_t max_connection_rate_per_client = 0;
  Duration idle_upstream{std::chrono::seconds(30)};
  // How long after it opened an upstream connection may still take a new transaction
  // (Postfix's smtp_connection_reuse_time_limit): its certificate was checked only then.
  Duration reuse_time_limit{std::chrono::seconds(300)};
  std::uint64_t pool_size_per_upstream = 8;  // per thread: each thread keeps its own pool
  // Threads that carry client sessions (each its own event loop); 0: one per CPU this
  // process may run on (sched_getaffinity), decided at start.
  std::uint64_t threads = 0;

  static std::vector<Cidr> default_allow_clients();  // 127.0.0.1/32, ::1/128
};

struct TlsSettings {
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  SourceLocation ca_file_at;        // where it is set; no line when it is the default
  std::string min_version = "1.2";  // "1.0" | "1.1" | "1.2" | "1.3"
  bool session_resumption = true;   // offer a verified earlier session to the same server
};

// The lowered TLS profile of the `compat` action; unset fields keep the default profile's.
struct CompatProfile {
  SourceLocation at;  // the [upstream.compat] table
  std::optional<std::string> min_version;
  std::optional<std::string> max_version;
  std::optional<std::string> ciphers;       // TLS <= 1.2 cipher list
  SourceLocation ciphers_at;                // where it is, for check-config's warnings
  std::optional<std::string> ciphersuites;  // TLS 1.3 suites
  std::optional<std::string> groups;
  std::optional<int> security_level;  // 0..5
};

struct UpstreamSettings {
  std::string name;         // [A-Za-z0-9._-]+, unique
  std::string host;         // DNS name or IP literal: SNI and certificate name
  std::uint16_t port = 25;  // default 25, or 465 when tls = implicit
  TlsMode tls = TlsMode::Starttls;
  std::optional<IpAddress> connect;  // fixed address instead of resolving host
  std::optional<std::string> sni;    // override; "" sends none
  std::optional<std::string> auth_user;
  std::optional<std::string> auth_password_file;  // path only; read with read_secret()
  SourceLocation auth_password_file_at;           // where the key is, for later errors
  std::optional<AuthMechanism> auth_mechanism;    // unset: the best the server offers
  std::optional<std::string> oauth_token_file;    // xoauth2 only; read with read_secret()
  SourceLocation oauth_token_file_at;
  bool allow_plaintext = false;                // never together with auth_user
  Duration timeout{std::chrono::seconds(30)};  // per phase of one attempt
  std::optional<CompatProfile> compat;
  SourceLocation at;  // the [[upstream]] table
};

// One step of a policy rule (../shared/spec/interfaces.md "Actions").
enum class ActionKind { Retry, NextAddress, NextUpstream, Compat, Plaintext, Defer, Reject };

struct Action {
  ActionKind kind = ActionKind::Defer;
  int count = 1;  // retry:N; 1 for every other kind
  friend bool operator==(const Action&, const Action&) = default;
};

struct PolicySettings {
  Duration deadline{std::chrono::seconds(60)};
  // How long a failing address (or an upstream whose addresses all fail) is tried after
  // the others instead of first (docs/status-api.md). 0 turns hold-down off.
  Duration hold_down{std::chrono::seconds(30)};
  std::vector<Duration> backoff{std::chrono::seconds(1), std::chrono::seconds(4)};
  // Only the rules the file wrote; config/policy_rules.hpp adds the built-in ones.
  // Keys: a class id, a group name or "default".
  std::map<std::string, std::vector<Action>, std::less<>> rules;
};

struct HeaderSettings {
  bool enabled = true;
};

struct LogSettings {
  std::optional<std::string> events;  // attempt records, one JSON object a line
};

struct HttpSettings {
  std::optional<SocketAddress> listen;  // /metrics, /status, /
  bool address_labels = false;          // per-address series in /metrics
  // Host names (and IP addresses) besides the listen address and "localhost" that a request
  // may name in Host; any other Host is refused (DNS rebinding). As written.
  std::vector<std::string> allowed_hosts;
};

// [health]: active route checks and certificate-expiry warnings (docs/monitoring.md).
struct HealthSettings {
  // How long an upstream address may go without an attempt (mail or check) before a
  // check; jittered. 0 turns checks off.
  Duration interval{std::chrono::seconds(300)};
  bool auth = false;              // also AUTH in a check, where the upstream has credentials
  std::uint64_t concurrency = 2;  // checks at once, all upstreams together
  // Days before a certificate's notAfter at which one warning each is given, any order.
  std::vector<int> certificate_warn_days{30, 14, 7, 1};
};

// [milter]: tlsrelay-milter's settings. The relay only checks them; socket and status_url
// are optional here and required by tlsrelay-milter itself (it reports their absence at `at`).
struct MilterSettings {
  // libmilter's syntax: "unix:/abs/path", "local:/abs/path", "inet:PORT@HOST",
  // "inet6:PORT@HOST" (PORT 1..65535; HOST an IP address or a name, optional for inet).
  std::optional<std::string> socket;
  // "http://HOST[:PORT]/PATH" as written, and its parts (HOST without [] for IPv6).
  std::optional<std::string> status_url;
  SourceLocation status_url_at;  // the value, for problems found after loading
  std::string status_host;
  std::uint16_t status_port = 80;
  std::string status_target = "/";
  // What to do with a message while the route is failing. The relay being unreachable is
  // never a reason to refuse mail: the milter then always accepts (fails open).
  MilterPolicy policy = MilterPolicy::Accept;
  bool degraded_is_failing = false;                  // failing_states = ["failing", "degraded"]
  Duration cache{std::chrono::seconds(1)};           // how long one /status answer is reused
  Duration timeout{std::chrono::milliseconds(500)};  // one /status request, connect to body
  bool route_header = true;                          // TLS-Relay-Route
  bool inbound_header = true;                        // TLS-Relay-Inbound
  SourceLocation at;                                 // the [milter] table
};

struct Settings {
  std::string source;  // the file name errors are reported against
  ProxySettings proxy;
  TlsSettings tls;
  std::vector<UpstreamSettings> upstreams;  // in the order to try them; at least one
  PolicySettings policy;
  HeaderSettings headers;
  LogSettings log;
  HttpSettings http;
  HealthSettings health;
  std::optional<MilterSettings> milter;
  // [health.recurrence]: when a route's incidents make it recurring (docs/status-api.md).
  RecurrenceRule health_recurrence;
};

}  // namespace tlsrelay::config

// The facts one upstream attempt captured, phase by phase: the input of the classifier and
// the body of the attempt record (../shared/spec/interfaces.md).
//
// Plain data, no behaviour and no OpenSSL types, so that the classifier is a pure function
// that unit tests can feed by hand. Secrets never enter these structures: the transcript
// masks AUTH payloads at the point of capture.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/failure_class.hpp"
#include "common/modes.hpp"
#include "common/smtp_reply.hpp"

namespace tlsrelay::tls {

struct UpstreamTarget {
  std::string name;  // the configured upstream's name ("probe" for the CLI)
  std::string host;  // DNS name (or IP literal) used for SNI and verification
  std::uint16_t port = 25;
  TlsMode tls_mode = TlsMode::Starttls;
  std::string connect_address;     // fixed IP to connect to instead of resolving host
  std::optional<std::string> sni;  // override; "" means send none
};

// How the attempt ended in its last phase. Set by the connector from what it observed
// (socket error codes, replies, OpenSSL return values), never from message text.
enum class Ending {
  Ok,
  DnsNxdomain,         // the resolver said the name does not exist
  DnsNoAddress,        // the name exists but has no A/AAAA records
  DnsError,            // SERVFAIL, time-out, other resolver failure
  SocketError,         // errno in network.errno_value
  TimedOut,            // our phase time-out fired
  PeerClosed,          // EOF from the peer
  BadReply,            // an SMTP reply we cannot go on with (in smtp.last_reply)
  NotSmtp,             // bytes that are not an SMTP reply
  NoStarttls,          // EHLO without STARTTLS
  BytesAfterStarttls,  // plaintext already buffered after the 220 to STARTTLS
  TlsFailed,           // the TLS handshake (or the first read after it) failed
  VerifyFailed,        // the handshake finished but the certificate did not verify
  NoAuthMechanism,     // credentials given, no usable AUTH mechanism offered
  LocalSetup,          // our own configuration (CA file, profile) is unusable
};
std::string_view to_string(Ending e);

struct CertFacts {
  std::string subject;  // RFC 2253, e.g. "CN=mx.example.net,O=Example"
  std::string issuer;
  std::string not_before;  // ISO 8601 UTC
  std::string not_after;
  std::int64_t not_before_epoch = 0;
  std::int64_t not_after_epoch = 0;
  std::vector<std::string> san;  // DNS names and IP addresses
  std::string key;               // "RSA-2048", "EC-256", "ED25519"
  int key_bits = 0;
  std::string signature;     // "sha256WithRSAEncryption"
  bool self_signed = false;  // issuer == subject and the signature verifies with its own key
  bool is_ca = false;
  std::string sha256;  // fingerprint, hex
  // For DANE TLSA matching (RFC 6698 2.1.2-2.1.3): digests of the whole certificate and of
  // its SubjectPublicKeyInfo, hex. Not in the JSON record.
  std::string sha512;
  std::string spki_sha256;
  std::string spki_sha512;
};

struct VerifyError {
  int error = 0;  // X509_V_ERR_*
  int depth = 0;  // in the chain OpenSSL built, which may differ from the chain as sent
  // The certificate the error is about, as OpenSSL had it at that moment: servers that
  // send their chain out of order (or with extra certificates) make depth useless as an
  // index into the chain as sent.
  std::string subject;
  std::string issuer;
  std::int64_t not_before_epoch = 0;
  std::int64_t not_after_epoch = 0;
  bool self_signed = false;
  std::string key;        // "RSA-1024"
  std::string signature;  // "sha1WithRSAEncryption"
};

struct TlsFacts {
  bool attempted = false;
  std::string sni;  // the name sent, "" when none
  std::string version;
  std::string cipher;
  std::vector<std::string> alerts_received;  // alert names, in order; warnings marked
  std::vector<std::string> alerts_sent;
  std::vector<int> alert_codes_received;  // fatal alerts and close_notify (RFC 8446 6)
  std::vector<int> alert_codes_sent;
  std::vector<int> handshake_messages_received;  // handshake types, e.g. 13 CertificateRequest
  bool session_reused = false;
  bool fallback_scsv = false;  // we announced this attempt as a fallback (RFC 7507)
  bool handshake_done = false;
  bool failed_after_handshake = false;  // the failure came on the first read after it (TLS 1.3)
  std::uint64_t bytes_received = 0;     // raw bytes from the server since TLS began
  std::string first_bytes;              // the first raw bytes from the server since TLS began
  std::vector<unsigned long> openssl_error_codes;  // ERR_get_error() values
  std::vector<std::string> openssl_errors;         // their ERR_error_string_n() text
};

struct CertificateFacts {
  std::optional<int> verify_result;  // the first verification error, or 0 when verified
  std::optional<int> verify_depth;
  std::vector<VerifyError> verify_errors;  // every error the verify callback saw, in order
  std::string verify_name;                 // the name checked against the certificate
  std::vector<CertFacts> chain;            // exactly as the server sent it, leaf first (16 at most)
  int chain_sent = 0;                      // how many certificates the server sent
  int verified_chain_length = 0;           // length of the chain OpenSSL built (incl. anchor)
  bool peer_certificate = false;           // the server sent one (anonymous suites send none)
  // Positive evidence, and the one source of every "verify=ok" we write: the server sent a
  // certificate, OpenSSL's verify result is X509_V_OK, our verify callback saw no error,
  // and the certificate names the host. Never inferred from an empty error list.
  bool verified = false;
};

struct SmtpFacts {
  std::optional<Reply> banner;
  std::vector<std::string> extensions;             // the EHLO keywords now in force
  std::vector<std::string> extensions_before_tls;  // from the plaintext EHLO (STARTTLS mode)
  std::vector<std::string> transcript;             // "S: ..." / "C: ..." lines, secrets masked
  std::optional<Reply> last_reply;                 // the reply that ended the attempt
  std::string unparsed;  // raw bytes (at most 256) that were not SMTP; escape before showing
  // Set when the reply was SMTP-shaped but beyond our bounds (smtp_reply.hpp: too many
  // lines, a line too long): "a reply of more than 200 lines".
  std::string limit_exceeded;
  std::string auth_mechanism;  // the one we used
  bool helo_fallback = false;
  bool implicit_tls_detected = false;  // a silent port answered a TLS ClientHello (465)
  std::uint64_t bytes_after_starttls = 0;
};

struct NetworkFacts {
  std::string address;                 // the IP we connected (or tried to connect) to
  std::string local_address;           // our side of the connection, once connected
  std::vector<std::string> addresses;  // everything DNS returned
  int errno_value = 0;
  std::uint64_t bytes_received_in_phase = 0;
  std::string resolver_detail;  // e.g. "getaddrinfo: Temporary failure in name resolution"
};

struct Timings {
  std::optional<double> dns, connect, banner, ehlo, starttls, tls_handshake, auth;
  double total = 0;
};

struct AttemptFacts {
  std::chrono::system_clock::time_point started;
  UpstreamTarget upstream;
  bool auth_requested = false;
  Phase phase = Phase::None;  // the phase in which it ended (None when it got everything)
  Ending ending = Ending::Ok;
  std::string local_detail;             // for LocalSetup: what of ours is broken
  std::string ca_file;                  // the trust anchors in use ("" = the system store)
  std::string min_version;              // the lowest TLS version we offered, e.g. "1.2"
  std::string cipher_list = "DEFAULT";  // the TLS <= 1.2 list we offered
  int security_level = 2;               // OpenSSL's, of the profile used
  double phase_timeout_s = 0;
  std::int64_t clock_now = 0;    // our wall clock when the certificate was checked
  std::int64_t build_epoch = 0;  // kBuildEpochSeconds, injectable for tests
  TlsFacts tls;
  CertificateFacts certificate;
  SmtpFacts smtp;
  NetworkFacts network;
  Timings timings;
};

}  // namespace tlsrelay::tls

// The TLS scanner: one handshake with a chosen offer (version range, TLS <= 1.2 cipher list,
// key-exchange groups, SNI on or off), made through the ordinary connector
// (tls::run_attempt: banner, EHLO, STARTTLS or implicit TLS, the handshake, EHLO again),
// reporting what was agreed or why it failed; then QUIT. `tlsrelay audit` makes a bounded
// series of these; failure hints make one or two.
//
// A scan never sends AUTH, MAIL or anything after the second EHLO: its context may offer
// what the relay never would (TLS 1.0 at security level 0, anonymous and NULL suites), so
// nothing of value may travel over it. The connector already ends a handshake that proves
// nothing (no certificate, a NULL suite) without a word of SMTP.
//
// Budget: a ScanBudget counts handshakes and holds an overall deadline; each handshake's
// phase time-out is cut to what is left. Runs on the caller's executor; not thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "tls/attempt.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::tls {

// What one scanning handshake offers.
struct ScanOffer {
  std::string min_version = "1.2";  // 1.0 | 1.1 | 1.2 | 1.3
  std::string max_version;          // "" = the highest OpenSSL has
  std::string ciphers;              // TLS <= 1.2 list; "" = DEFAULT
  std::string groups;               // "" = OpenSSL's default
  int security_level = 0;           // 0: see what the server does; the grading judges
  bool send_sni = true;
  // Offer `ciphers` exactly as written: anonymous (aNULL) and NULL (eNULL) suites too,
  // which every other context of ours strips (client_context.hpp).
  bool any_cipher = false;
  // When the banner never comes, try a ClientHello on a second connection (an implicit-TLS
  // port spoken to as STARTTLS); one extra connection, not counted as a handshake.
  bool detect_implicit_tls = false;
};

// What one scanning handshake saw.
struct ScanOutcome {
  bool tried = false;           // false: skipped (budget, deadline, or not applicable)
  bool handshake_done = false;  // the server agreed to the offer
  std::string version;          // "TLSv1.2"
  std::string cipher;           // OpenSSL's name, e.g. "ECDHE-RSA-AES128-GCM-SHA256"
  // Read from the open connection: known only when the certificate verified (else the
  // connector closed it at once).
  std::string group;  // "X25519", "prime256v1", "ffdhe2048"; "" when none or unknown
  bool ocsp_stapled = false;
  bool session_reused = false;
  bool not_offerable = false;  // this OpenSSL cannot offer it (e.g. no 3DES suites built in)
  std::string failure;         // why there was no handshake, one line
  AttemptFacts facts;          // everything the connector captured
};

// The context for an offer, or why this OpenSSL cannot make it.
std::variant<std::shared_ptr<ClientContext>, std::string> scan_context(const ScanOffer& offer,
                                                                       const std::string& ca_file);

// One line: why the attempt ended without a handshake ("alert handshake_failure",
// "alert protocol_version", "the server closed the connection", ...).
std::string scan_failure(const AttemptFacts& facts);

// Handshakes and time for a series of scans.
class ScanBudget {
 public:
  ScanBudget(int max_handshakes, std::chrono::steady_clock::duration overall)
      : max_(max_handshakes), deadline_(std::chrono::steady_clock::now() + overall) {}
  bool exhausted() const;
  int used() const { return used_; }
  int max() const { return max_; }
  // The phase time-out for the next handshake: `phase`, cut to what is left.
  std::chrono::milliseconds phase_timeout(std::chrono::milliseconds phase) const;
  void spend() { ++used_; }

 private:
  int max_;
  int used_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

// One handshake. `base` gives the target, EHLO name and phase time-out; its credentials
// are ignored. `context` (from scan_context for the same offer) may be passed to resume
// a session of an earlier scan with it; null makes a fresh one. Returns tried = false
// without touching the network when the budget is spent.
boost::asio::awaitable<ScanOutcome> scan_handshake(AttemptOptions base, ScanOffer offer,
                                                   std::string ca_file, ScanBudget& budget,
                                                   std::shared_ptr<ClientContext> context = {});

}  // namespace tlsrelay::tls

// The classifier on captured facts, written by hand: one row per situation, each naming the
// class it must produce; then the tie-breaking rules; then a check that every class of the
// table is reachable.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <set>

#include "tls/attempt_record.hpp"
#include "tls/classifier.hpp"
#include "tls/openssl_names.hpp"

using namespace tlsrelay;
using namespace tlsrelay::tls;

namespace {

constexpr std::int64_t kBuilt = 1'790'000'000;  // 2026-09
constexpr std::int64_t kNow = 1'795'000'000;    // 2026-11

AttemptFacts base(Phase phase, Ending ending) {
  AttemptFacts f;
  f.upstream.name = "primary";
  f.upstream.host = "mx.example.net";
  f.upstream.port = 587;
  f.upstream.tls_mode = TlsMode::Starttls;
  f.network.address = "192.0.2.10";
  f.min_version = "1.2";
  f.phase_timeout_s = 30;
  f.build_epoch = kBuilt;
  f.clock_now = kNow;
  f.phase = phase;
  f.ending = ending;
  return f;
}

CertFacts cert(const std::string& subject, const std::string& issuer, bool self_signed = false) {
  CertFacts c;
  c.subject = subject;
  c.issuer = issuer;
  c.self_signed = self_signed;
  c.san = {"mx.example.net"};
  c.not_after_epoch = kNow - 86400;
  c.not_after = "2026-11-01T00:00:00Z";
  c.key = "RSA-2048";
  c.signature = "sha256WithRSAEncryption";
  return c;
}

AttemptFacts verify(std::vector<VerifyError> errors, std::vector<CertFacts> chain = {},
                    int verified_len = 0) {
  AttemptFacts f = base(Phase::Certificate, Ending::VerifyFailed);
  f.tls.attempted = f.tls.handshake_done = true;
  f.certificate.verify_errors = std::move(errors);
  f.certificate.verify_name = "mx.example.net";
  if (chain.empty()) {
    chain = {cert("CN=mx.example.net", "CN=R11,O=Let's Encrypt,C=US"),
             cert("CN=R11,O=Let's Encrypt,C=US", "CN=ISRG Root X1,O=ISRG,C=US")};
  }
  f.certificate.chain = std::move(chain);
  f.certificate.verified_chain_length = verified_len;
  return f;
}

AttemptFacts tls_fail(std::vector<int> alerts_received = {}, std::vector<int> reasons = {},
                      std::vector<int> handshake = {}) {
  AttemptFacts f = base(Phase::TlsHandshake, Ending::TlsFailed);
  f.tls.attempted = true;
  f.tls.sni = "mx.example.net";
  f.tls.alert_codes_received = std::move(alerts_received);
  for (int r : reasons) f.tls.openssl_error_codes.push_back(ERR_PACK(ERR_LIB_SSL, 0, r));
  f.tls.handshake_messages_received = std::move(handshake);
  f.tls.first_bytes = std::string("\x16\x03\x03\x00\x7a", 5);
  return f;
}

AttemptFacts with_reply(AttemptFacts f, const std::string& text) {
  f.smtp.last_reply = parse_reply_text(text);
  return f;
}

struct Row {
  std::string name;
  std::function<AttemptFacts()> facts;
  FailureClass expected;
  Phase phase;
  std::string hint_has;  // a phrase the hint must contain ("" = any)
};

std::vector<Row> rows() {
  using enum FailureClass;
  return {
      {"attempt completed", [] { return base(Phase::None, Ending::Ok); }, Ok, Phase::None, ""},
      // DNS
      {"NXDOMAIN", [] { return base(Phase::Dns, Ending::DnsNxdomain); }, DnsNxdomain, Phase::Dns,
       "does not exist"},
      {"SERVFAIL", [] { return base(Phase::Dns, Ending::DnsError); }, DnsFailure, Phase::Dns,
       "resolv.conf"},
      {"no A/AAAA", [] { return base(Phase::Dns, Ending::DnsNoAddress); }, DnsFailure, Phase::Dns,
       "no address"},
      // connect
      {"RST to SYN",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = ECONNREFUSED;
         return f;
       },
       ConnectRefused, Phase::Connect, "nothing listens"},
      {"SYN dropped", [] { return base(Phase::Connect, Ending::TimedOut); }, ConnectTimeout,
       Phase::Connect, "drops"},
      {"kernel gave up on SYN",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = ETIMEDOUT;
         return f;
       },
       ConnectTimeout, Phase::Connect, ""},
      {"ICMP host unreachable",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = EHOSTUNREACH;
         return f;
       },
       NetworkUnreachable, Phase::Connect, "EHOSTUNREACH"},
      {"no route",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = ENETUNREACH;
         return f;
       },
       NetworkUnreachable, Phase::Connect, ""},
      {"local firewall refuses (EPERM)",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = EPERM;
         return f;
       },
       NetworkUnreachable, Phase::Connect, ""},
      {"accepted and reset at once: a reset, not a routing problem",
       [] {
         auto f = base(Phase::Connect, Ending::SocketError);
         f.network.errno_value = ECONNRESET;
         return f;
       },
       ConnectionReset, Phase::Connect, "reset it at once"},
      // after connect
      {"reset in EHLO",
       [] {
         auto f = base(Phase::Ehlo, Ending::SocketError);
         f.network.errno_value = ECONNRESET;
         return f;
       },
       ConnectionReset, Phase::Ehlo, ""},
      {"EOF in banner", [] { return base(Phase::Banner, Ending::PeerClosed); }, ConnectionClosed,
       Phase::Banner, ""},
      {"silent banner", [] { return base(Phase::Banner, Ending::TimedOut); }, Timeout,
       Phase::Banner, "greeting"},
      {"silent banner, but the port speaks TLS",
       [] {
         auto f = base(Phase::Banner, Ending::TimedOut);
         f.smtp.implicit_tls_detected = true;
         return f;
       },
       TlsModeMismatch, Phase::Banner, "tls = implicit"},
      // SMTP
      {"SSH banner",
       [] {
         auto f = base(Phase::Banner, Ending::NotSmtp);
         f.smtp.unparsed = "SSH-2.0-OpenSSH_9.2p1\r\n";
         return f;
       },
       NotSmtp, Phase::Banner, "SSH"},
      {"TLS record as banner",
       [] {
         auto f = base(Phase::Banner, Ending::NotSmtp);
         f.smtp.unparsed = std::string("\x15\x03\x03\x00\x02\x02\x32", 7);
         return f;
       },
       TlsModeMismatch, Phase::Banner, "implicit"},
      {"554 banner",
       [] { return with_reply(base(Phase::Banner, Ending::BadReply), "554 5.7.1 go away\r\n"); },
       BannerRejected, Phase::Banner, "refuses"},
      {"EHLO and HELO 550",
       [] {
         auto f = with_reply(base(Phase::Ehlo, Ending::BadReply), "550 5.7.1 no\r\n");
         f.smtp.helo_fallback = true;
         return f;
       },
       EhloRejected, Phase::Ehlo, "hostname"},
      {"no STARTTLS",
       [] {
         auto f = base(Phase::Ehlo, Ending::NoStarttls);
         f.smtp.extensions = {"PIPELINING", "SIZE 1000", "8BITMIME"};
         return f;
       },
       StarttlsNotOffered, Phase::Ehlo, "465"},
      {"STARTTLS masked as XXXXXXXA",
       [] {
         auto f = base(Phase::Ehlo, Ending::NoStarttls);
         f.smtp.extensions = {"PIPELINING", "XXXXXXXA", "8BITMIME"};
         return f;
       },
       StarttlsStripped, Phase::Ehlo, "inspect"},
      {"PIX-masked banner and no STARTTLS",
       [] {
         auto f = base(Phase::Ehlo, Ending::NoStarttls);
         f.smtp.banner = parse_reply_text("220 ****************************************\r\n");
         return f;
       },
       StarttlsStripped, Phase::Ehlo, ""},
      {"STARTTLS 454",
       [] {
         return with_reply(base(Phase::Starttls, Ending::BadReply),
                           "454 4.7.0 TLS not available\r\n");
       },
       StarttlsRejected, Phase::Starttls, "operator"},
      {"bytes after 220",
       [] {
         auto f = base(Phase::Starttls, Ending::BytesAfterStarttls);
         f.smtp.unparsed = "250-x\r\n250 AUTH LOGIN\r\n";
         f.smtp.bytes_after_starttls = 23;
         return f;
       },
       StarttlsInjection, Phase::Starttls, "man in the middle"},
      {"plaintext in place of the ServerHello after STARTTLS",
       [] {
         auto f = tls_fail({}, {SSL_R_WRONG_VERSION_NUMBER});
         f.tls.first_bytes = "250 AUTH LOGIN\r\n";
         return f;
       },
       StarttlsInjection, Phase::Starttls, ""},
      {"220 to STARTTLS, then the ClientHello answered as a command",
       [] {
         auto f = tls_fail({}, {SSL_R_WRONG_VERSION_NUMBER});
         f.tls.first_bytes = "500 5.5.1 Command unrecognized\r\n";
         return f;
       },
       StarttlsRejected, Phase::Starttls, "does not start TLS"},
      {"implicit TLS to a plaintext port",
       [] {
         auto f = tls_fail({}, {SSL_R_WRONG_VERSION_NUMBER});
         f.upstream.tls_mode = TlsMode::Implicit;
         f.tls.first_bytes = "220 mx.example.net ESMTP\r\n";
         return f;
       },
       TlsModeMismatch, Phase::TlsHandshake, "tls = starttls"},
      {"implicit TLS to an SSH port",
       [] {
         auto f = tls_fail({}, {SSL_R_WRONG_VERSION_NUMBER});
         f.upstream.tls_mode = TlsMode::Implicit;
         f.tls.first_bytes = "SSH-2.0-OpenSSH\r\n";
         return f;
       },
       NotSmtp, Phase::TlsHandshake, "SSH"},
      {"not TLS in reply to the ClientHello, bytes not kept: still a mode mismatch",
       [] { return tls_fail({}, {SSL_R_WRONG_VERSION_NUMBER}); }, TlsModeMismatch,
       Phase::TlsHandshake, "tls mode"},
      // TLS
      {"alert protocol_version", [] { return tls_fail({alert::kProtocolVersion}); },
       TlsProtocolMismatch, Phase::TlsHandshake, ""},
      {"server chose TLS 1.0", [] { return tls_fail({}, {SSL_R_UNSUPPORTED_PROTOCOL}); },
       TlsProtocolMismatch, Phase::TlsHandshake, "1.2"},
      {"alert known only from the error queue",
       [] { return tls_fail({}, {SSL_AD_REASON_OFFSET + alert::kProtocolVersion}); },
       TlsProtocolMismatch, Phase::TlsHandshake, ""},
      {"handshake_failure to our ClientHello", [] { return tls_fail({alert::kHandshakeFailure}); },
       TlsNoSharedCipher, Phase::TlsHandshake, "in common"},
      {"insufficient_security", [] { return tls_fail({alert::kInsufficientSecurity}); },
       TlsNoSharedCipher, Phase::TlsHandshake, ""},
      {"dh key too small", [] { return tls_fail({}, {SSL_R_DH_KEY_TOO_SMALL}); }, TlsWeakParameters,
       Phase::TlsHandshake, "Diffie-Hellman"},
      {"no RFC 5746", [] { return tls_fail({}, {SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED}); },
       TlsWeakParameters, Phase::TlsHandshake, "5746"},
      {"SHA-1 signature algorithm",
       [] { return tls_fail({}, {SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED}); },
       TlsWeakParameters, Phase::TlsHandshake, "SHA-1"},
      {"unrecognized_name with no SNI (IP upstream)",
       [] {
         auto f = tls_fail({alert::kUnrecognizedName});
         f.tls.sni = "";
         f.upstream.host = "192.0.2.10";
         return f;
       },
       TlsSniRequired, Phase::TlsHandshake, "connect ="},
      {"certificate_required after our Finished (TLS 1.3)",
       [] {
         auto f = tls_fail({alert::kCertificateRequired});
         f.tls.failed_after_handshake = true;
         return f;
       },
       TlsClientCertificateRequired, Phase::TlsHandshake, "client certificate"},
      {"handshake_failure after a CertificateRequest (TLS 1.2)",
       [] {
         return tls_fail(
             {alert::kHandshakeFailure}, {},
             {handshake::kServerHello, handshake::kCertificate, handshake::kCertificateRequest});
       },
       TlsClientCertificateRequired, Phase::TlsHandshake, ""},
      {"internal_error", [] { return tls_fail({alert::kInternalError}); }, TlsAlert,
       Phase::TlsHandshake, "internal_error"},
      {"nothing to go on", [] { return tls_fail(); }, TlsError, Phase::TlsHandshake, ""},
      {"EOF after the ClientHello",
       [] {
         auto f = tls_fail();
         f.ending = Ending::PeerClosed;
         f.tls.first_bytes.clear();
         return f;
       },
       ConnectionClosed, Phase::TlsHandshake, ""},
      {"reset after the ClientHello",
       [] {
         auto f = tls_fail();
         f.ending = Ending::SocketError;
         f.network.errno_value = ECONNRESET;
         f.tls.first_bytes.clear();
         return f;
       },
       ConnectionReset, Phase::TlsHandshake, ""},
      {"flight stopped at 1400 bytes",
       [] {
         auto f = tls_fail();
         f.ending = Ending::TimedOut;
         f.tls.bytes_received = 1400;
         return f;
       },
       Timeout, Phase::TlsHandshake, "MTU"},
      {"nothing after our ClientHello: the s_client command to try, STARTTLS",
       [] {
         auto f = tls_fail();
         f.ending = Ending::TimedOut;
         f.tls.first_bytes.clear();
         return f;
       },
       Timeout, Phase::TlsHandshake,
       "`openssl s_client -starttls smtp -connect 192.0.2.10:587 -servername mx.example.net`"},
      {"nothing after our ClientHello, implicit TLS over IPv6: brackets, no -starttls",
       [] {
         auto f = tls_fail();
         f.ending = Ending::TimedOut;
         f.tls.first_bytes.clear();
         f.upstream.tls_mode = TlsMode::Implicit;
         f.upstream.port = 465;
         f.network.address = "2001:db8::25";
         return f;
       },
       Timeout, Phase::TlsHandshake,
       "`openssl s_client -connect [2001:db8::25]:465 -servername mx.example.net`"},
      {"weak key refused inside the handshake",
       [] { return tls_fail({}, {SSL_R_EE_KEY_TOO_SMALL}); }, CertificateWeak, Phase::Certificate,
       ""},
      // certificates
      {"expired leaf",
       [] {
         return verify({{X509_V_ERR_CERT_HAS_EXPIRED, 0}});
       },
       CertificateExpired, Phase::Certificate, "renew"},
      {"expired intermediate",
       [] {
         return verify({{X509_V_ERR_CERT_HAS_EXPIRED, 1}});
       },
       CertificateExpired, Phase::Certificate, "intermediate"},
      {"not yet valid",
       [] {
         return verify({{X509_V_ERR_CERT_NOT_YET_VALID, 0}});
       },
       CertificateNotYetValid, Phase::Certificate, ""},
      {"not yet valid, our clock before our build",
       [] {
         auto f = verify({{X509_V_ERR_CERT_NOT_YET_VALID, 0}});
         f.clock_now = kBuilt - 86400 * 400;
         return f;
       },
       ClientClockSkew, Phase::Certificate, "timedatectl"},
      {"every certificate expired, the anchor too",
       [] {
         return verify({{X509_V_ERR_CERT_HAS_EXPIRED, 0},
                        {X509_V_ERR_CERT_HAS_EXPIRED, 1},
                        {X509_V_ERR_CERT_HAS_EXPIRED, 2}},
                       {}, 3);
       },
       ClientClockSkew, Phase::Certificate, ""},
      {"host mismatch",
       [] {
         return verify({{X509_V_ERR_HOSTNAME_MISMATCH, 0}});
       },
       CertificateHostMismatch, Phase::Certificate, "mx.example.net"},
      {"leaf only",
       [] {
         return verify({{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0},
                        {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, 0}},
                       {cert("CN=mx.example.net", "CN=R11,O=Let's Encrypt,C=US")});
       },
       CertificateChainIncomplete, Phase::Certificate, "issuer: R11"},
      {"chain to a root we do not have",
       [] {
         return verify({{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 1}});
       },
       CertificateUntrusted, Phase::Certificate, "ISRG Root X1"},
      {"self-signed root in the chain",
       [] {
         return verify({{X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, 1}});
       },
       CertificateUntrusted, Phase::Certificate, ""},
      {"self-signed leaf",
       [] {
         return verify({{X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0}},
                       {cert("CN=mx.example.net", "CN=mx.example.net", true)});
       },
       CertificateSelfSigned, Phase::Certificate, "self-signed"},
      {"1024-bit key",
       [] {
         return verify({{X509_V_ERR_EE_KEY_TOO_SMALL, 0}});
       },
       CertificateWeak, Phase::Certificate, ""},
      {"SHA-1 CA signature",
       [] {
         return verify({{X509_V_ERR_CA_MD_TOO_WEAK, 0}});
       },
       CertificateWeak, Phase::Certificate, ""},
      {"revoked",
       [] {
         return verify({{X509_V_ERR_CERT_REVOKED, 0}});
       },
       CertificateRevoked, Phase::Certificate, ""},
      {"bad signature",
       [] {
         return verify({{X509_V_ERR_CERT_SIGNATURE_FAILURE, 0}});
       },
       CertificateInvalid, Phase::Certificate, ""},
      {"chain too deep: the cut-off chain's missing issuer is not the finding",
       [] {
         auto f = verify({{X509_V_ERR_CERT_CHAIN_TOO_LONG, 10},
                          {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 10}});
         f.certificate.chain_sent = 21;
         return f;
       },
       CertificateInvalid, Phase::Certificate, "sends 21 certificates"},
      {"handshake message over the limit (a certificate chain over 100 KiB)",
       [] { return tls_fail({}, {SSL_R_EXCESSIVE_MESSAGE_SIZE}); }, TlsError, Phase::TlsHandshake,
       "over 100 KiB"},
      {"an anonymous suite: the handshake finished, no certificate, no verify error",
       [] {
         AttemptFacts f = verify({}, {});
         f.certificate.chain.clear();
         f.certificate.peer_certificate = false;
         f.tls.version = "TLSv1.2";
         f.tls.cipher = "ADH-AES256-GCM-SHA384";
         return f;
       },
       CertificateInvalid, Phase::Certificate, "sent no certificate"},
      {"a retry announced as a fallback is refused as a downgrade (RFC 7507)",
       [] {
         AttemptFacts f = tls_fail({alert::kInappropriateFallback});
         f.tls.fallback_scsv = true;
         return f;
       },
       TlsAlert, Phase::TlsHandshake, "downgrade"},
      // AUTH and local
      {"535 5.7.8",
       [] {
         return with_reply(base(Phase::Auth, Ending::BadReply),
                           "535 5.7.8 Username and Password not accepted\r\n");
       },
       AuthFailed, Phase::Auth, "app password"},
      {"Gmail 534 5.7.9",
       [] {
         return with_reply(
             base(Phase::Auth, Ending::BadReply),
             "534-5.7.9 Application-specific password required\r\n534 5.7.9 Learn more\r\n");
       },
       AuthFailed, Phase::Auth, "app password"},
      {"454 too many login attempts",
       [] {
         return with_reply(base(Phase::Auth, Ending::BadReply),
                           "454 4.7.0 Too many login attempts, please try again later\r\n");
       },
       AuthFailed, Phase::Auth, "back off"},
      {"no AUTH after TLS", [] { return base(Phase::Auth, Ending::NoAuthMechanism); },
       AuthUnavailable, Phase::Auth, "587"},
      {"CA file not PEM",
       [] {
         auto f = base(Phase::TlsHandshake, Ending::LocalSetup);
         f.local_detail = "CA file /x holds no PEM certificate";
         return f;
       },
       LocalConfig, Phase::TlsHandshake, "/x"},
  };
}

}  // namespace

TEST_CASE("the classifier names each situation", "[classifier]") {
  for (const Row& row : rows()) {
    Verdict v = classify(row.facts());
    INFO(row.name << ": got " << to_string(v.cls) << " in " << to_string(v.phase)
                  << "\n detail: " << v.detail << "\n hint: " << v.hint);
    CHECK(v.cls == row.expected);
    CHECK(v.phase == row.phase);
    if (!row.hint_has.empty()) CHECK(v.hint.find(row.hint_has) != std::string::npos);
    if (v.cls != FailureClass::Ok) {
      CHECK(!v.hint.empty());
      CHECK(!v.detail.empty());
    }
  }
}

TEST_CASE("every class of the table is reachable from some facts", "[classifier]") {
  std::set<FailureClass> seen;
  for (const Row& row : rows()) seen.insert(classify(row.facts()).cls);
  for (const ClassInfo* c = all_classes_begin(); c != all_classes_end(); ++c) {
    INFO("no row produces " << c->name);
    CHECK(seen.count(c->id) == 1);
  }
}

TEST_CASE("transience of reply-driven classes follows the reply", "[classifier]") {
  auto f421 = with_reply(base(Phase::Banner, Ending::BadReply), "421 4.3.2 busy\r\n");
  auto f554 = with_reply(base(Phase::Banner, Ending::BadReply), "554 5.7.1 no\r\n");
  CHECK(classify(f421).transient);
  CHECK_FALSE(classify(f554).transient);
}

TEST_CASE("a chain that cannot be trusted outranks its other faults", "[classifier]") {
  // Self-signed and expired: trust is the first thing to fix.
  auto f = verify({{X509_V_ERR_CERT_HAS_EXPIRED, 0}, {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0}},
                  {cert("CN=mx.example.net", "CN=mx.example.net", true)});
  CHECK(classify(f).cls == FailureClass::CertificateSelfSigned);
  // Expired and for another host: validity first.
  auto g = verify({{X509_V_ERR_HOSTNAME_MISMATCH, 0}, {X509_V_ERR_CERT_HAS_EXPIRED, 0}});
  CHECK(classify(g).cls == FailureClass::CertificateExpired);
}

TEST_CASE("a chain sent out of order: the hint names the certificate the error is about",
          "[classifier]") {
  // As sent: leaf, root, intermediate. OpenSSL's depth 1 is the intermediate, which is the
  // root's slot in the chain as sent; the error carries its own certificate's facts.
  VerifyError e{X509_V_ERR_CERT_HAS_EXPIRED, 1};
  e.subject = "CN=Old Intermediate,O=Example CA";
  e.issuer = "CN=Example Root,O=Example CA";
  e.not_after_epoch = kNow - 86400 * 10;
  auto f = verify({e}, {cert("CN=mx.example.net", "CN=Old Intermediate,O=Example CA"),
                        cert("CN=Example Root,O=Example CA", "CN=Example Root,O=Example CA", true),
                        cert("CN=Old Intermediate,O=Example CA", "CN=Example Root,O=Example CA")});
  Verdict v = classify(f);
  INFO(v.hint);
  CHECK(v.cls == FailureClass::CertificateExpired);
  CHECK(v.hint.find("Old Intermediate") != std::string::npos);
  CHECK(v.hint.find("Example Root") == std::string::npos);
}

TEST_CASE("the classifier reads codes, not message text", "[classifier]") {
  // The same facts with misleading OpenSSL text must give the same class.
  auto f = tls_fail({alert::kProtocolVersion});
  f.tls.openssl_errors = {"error:0A000086:SSL routines::certificate verify failed"};
  CHECK(classify(f).cls == FailureClass::TlsProtocolMismatch);
}

// Found by fuzz/classifier_fuzz.cpp: a certificate name that is not UTF-8 went raw into the
// hint, and from there into JSON (`probe --json`, /status), which then could not be written.
TEST_CASE("peer text in the detail and hint is escaped: a non-UTF-8 certificate name",
          "[classifier]") {
  const std::string hostile = "CN=mx\xc6\x01\r\nX-Injected: yes";
  const AttemptFacts f =
      verify({{X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0}}, {cert(hostile, hostile, true)});
  const Verdict v = classify(f);
  CHECK(v.cls == FailureClass::CertificateSelfSigned);
  INFO(v.hint);
  CHECK(v.hint.find("mx\\xc6\\x01\\r\\nX-Injected") != std::string::npos);
  for (const std::string* s : {&v.detail, &v.hint}) {
    CHECK(std::all_of(s->begin(), s->end(), [](char c) { return c >= 0x20 && c < 0x7f; }));
  }
  CHECK_NOTHROW(attempt_record(f, v).dump());

  // Ours, but a file name is bytes: a CA file whose name is not UTF-8.
  AttemptFacts local = base(Phase::TlsHandshake, Ending::LocalSetup);
  local.local_detail = "cannot read CA file /etc/ssl/caf\xe9.pem";
  const Verdict lv = classify(local);
  CHECK(lv.hint.find("caf\\xe9.pem") != std::string::npos);
  CHECK_NOTHROW(attempt_record(local, lv).dump());
}

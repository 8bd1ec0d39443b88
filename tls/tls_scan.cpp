#include "tls/tls_scan.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "tls/smtp_stream.hpp"
#include "tls/tls_channel.hpp"

namespace tlsrelay::tls {

namespace asio = boost::asio;

std::variant<std::shared_ptr<ClientContext>, std::string> scan_context(const ScanOffer& offer,
                                                                       const std::string& ca_file) {
  ClientProfile p;
  p.min_version = offer.min_version;
  p.max_version = offer.max_version;
  p.ciphers = offer.any_cipher ? std::string() : offer.ciphers;
  p.groups = offer.groups;
  p.security_level = offer.security_level;
  p.ca_file = ca_file;
  auto made = ClientContext::create(p);
  auto* ctx = std::get_if<std::shared_ptr<ClientContext>>(&made);
  if (ctx && offer.any_cipher) {
    // The one place a context of ours offers suites without authentication or encryption:
    // to learn whether the server accepts them. The connector refuses to speak over them.
    if (SSL_CTX_set_cipher_list((*ctx)->native(), offer.ciphers.c_str()) != 1) {
      ERR_clear_error();
      return "cipher list \"" + offer.ciphers + "\" selects no cipher";
    }
  }
  ERR_clear_error();
  return made;
}

std::string scan_failure(const AttemptFacts& f) {
  if (f.ending == Ending::Ok || (f.tls.handshake_done && f.ending == Ending::VerifyFailed)) {
    return "";
  }
  if (f.ending == Ending::LocalSetup) return "cannot offer this: " + f.local_detail;
  for (auto it = f.tls.alerts_received.rbegin(); it != f.tls.alerts_received.rend(); ++it) {
    if (it->find("(warning)") == std::string::npos) return "the server sent alert " + *it;
  }
  if (!f.tls.alerts_sent.empty()) return "we sent alert " + f.tls.alerts_sent.back();
  switch (f.ending) {
    case Ending::PeerClosed:
      return f.tls.attempted ? "the server closed the connection during the handshake"
                             : "the server closed the connection before TLS";
    case Ending::TimedOut:
      return std::string("no answer in time (") + std::string(to_string(f.phase)) + ")";
    case Ending::TlsFailed:
      return f.tls.openssl_errors.empty() ? "the handshake failed"
                                          : "the handshake failed: " + f.tls.openssl_errors.back();
    default:
      return std::string(to_string(f.ending)) + " in phase " + std::string(to_string(f.phase));
  }
}

bool ScanBudget::exhausted() const {
  return used_ >= max_ || std::chrono::steady_clock::now() >= deadline_;
}

std::chrono::milliseconds ScanBudget::phase_timeout(std::chrono::milliseconds phase) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  return std::max(std::chrono::milliseconds(1), std::min(phase, left));
}

namespace {

// OpenSSL's short name of the agreed key-exchange group ("X25519", "prime256v1"); "" when
// none or one OpenSSL cannot name (TLSEXT_nid_unknown | id).
std::string group_name(SSL* ssl) {
  const int nid = SSL_get_negotiated_group(ssl);
  if (nid <= 0 || (nid & TLSEXT_nid_unknown) != 0) return "";
  const char* name = OBJ_nid2sn(nid);
  return name ? name : "";
}

asio::awaitable<void> leave(SmtpStream& stream) {
  (void)co_await stream.write("QUIT\r\n");
  co_await stream.close();
}

}  // namespace

asio::awaitable<ScanOutcome> scan_handshake(AttemptOptions base, ScanOffer offer,
                                            std::string ca_file, ScanBudget& budget,
                                            std::shared_ptr<ClientContext> context) {
  ScanOutcome out;
  if (budget.exhausted()) co_return out;
  std::string context_error;
  if (!context) {
    auto made = scan_context(offer, ca_file);
    if (auto* ctx = std::get_if<std::shared_ptr<ClientContext>>(&made)) {
      context = *ctx;
    } else {
      out.not_offerable = true;
      out.failure = "this OpenSSL cannot offer it: " + std::get<std::string>(made);
      co_return out;
    }
  }
  budget.spend();
  out.tried = true;
  AttemptOptions options = std::move(base);
  options.credentials.reset();  // never AUTH over a scanning context
  options.detect_implicit_tls = offer.detect_implicit_tls;
  options.fallback = false;
  options.phase_timeout = budget.phase_timeout(options.phase_timeout);
  if (!offer.send_sni) options.target.sni = std::string();
  AttemptResult r = co_await run_attempt(std::move(options), context, std::move(context_error));
  if (r.stream) {
    // What the attempt record does not keep: the group and the staple, read from the open
    // connection (a handshake whose certificate did not verify is closed already).
    if (const TlsChannel* channel = r.stream->tls()) {
      out.group = group_name(channel->ssl());
      const unsigned char* staple = nullptr;
      out.ocsp_stapled = SSL_get_tlsext_status_ocsp_resp(channel->ssl(), &staple) > 0;
    }
    co_await leave(*r.stream);
  }
  out.facts = std::move(r.facts);
  const TlsFacts& t = out.facts.tls;
  out.handshake_done = t.handshake_done;
  if (out.handshake_done) {
    out.version = t.version;
    out.cipher = t.cipher;
    out.session_reused = t.session_reused;
  } else {
    out.failure = scan_failure(out.facts);
  }
  co_return out;
}

}  // namespace tlsrelay::tls

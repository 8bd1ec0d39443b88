#include "proxy/cli/audit_gather.hpp"

#include <algorithm>
#include <ctime>

#include "proxy/cli/audit_command.hpp"
#include "proxy/cli/cli_args.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

// The plan: the relay's own offer (then again, for resumption; then without SNI), each
// version alone, each TLS 1.2 family alone, the suite order, each group alone. 1 + 1 + 1 +
// 4 + 7 + 2 + 4 = 20 handshakes at most; 3DES costs none where OpenSSL has no 3DES. Where
// a step cannot tell anything (no TLS at all, no TLS 1.2), it and what depends on it is left.
asio::awaitable<AuditEvidence> gather_audit(AuditOptions o, tls::ClientProfile relay_profile) {
  tls::ScanBudget budget(kAuditMaxHandshakes, o.overall);
  AuditEvidence e;
  e.host = o.attempt.target.host;
  e.port = o.attempt.target.port;
  e.mode = o.attempt.target.tls_mode;
  e.now = static_cast<std::int64_t>(std::time(nullptr));
  e.max_handshakes = budget.max();
  int skipped = 0;
  auto scan =
      [&](tls::ScanOffer offer,
          std::shared_ptr<tls::ClientContext> ctx = {}) -> asio::awaitable<tls::ScanOutcome> {
    tls::AttemptOptions attempt = o.attempt;
    std::string ca = o.ca_file;
    tls::ScanOutcome out = co_await tls::scan_handshake(std::move(attempt), std::move(offer),
                                                        std::move(ca), budget, std::move(ctx));
    if (!out.tried && !out.not_offerable) ++skipped;
    co_return out;
  };

  tls::ScanOffer relay;
  relay.min_version = relay_profile.min_version;
  relay.security_level = relay_profile.security_level;
  relay.detect_implicit_tls = true;
  auto made = tls::scan_context(relay, o.ca_file);
  auto* relay_ctx_made = std::get_if<std::shared_ptr<tls::ClientContext>>(&made);
  if (!relay_ctx_made) {
    e.base.failure = "cannot make the relay's default offer: " + std::get<std::string>(made);
    co_return e;
  }
  const std::shared_ptr<tls::ClientContext> relay_ctx = *relay_ctx_made;
  e.base = co_await scan(relay, relay_ctx);
  relay.detect_implicit_tls = false;
  if (e.base.handshake_done) e.resumed = co_await scan(relay, relay_ctx);
  // Nothing more to learn where not even TLS began (no route, no STARTTLS, not SMTP).
  if (!e.base.facts.tls.attempted) {
    e.handshakes = budget.used();
    co_return e;
  }
  // Without SNI only where the same offer with SNI got through: else a refusal would say
  // nothing about SNI.
  const bool sni_sent = !e.base.facts.tls.sni.empty();
  if (e.base.handshake_done && sni_sent && !is_ip_literal(e.host)) {
    tls::ScanOffer no_sni = relay;
    no_sni.send_sni = false;
    e.without_sni = co_await scan(no_sni);
  }
  for (const char* v : {"1.0", "1.1", "1.2", "1.3"}) {
    tls::ScanOffer only;
    only.min_version = only.max_version = v;
    e.versions.emplace_back(v, co_await scan(only));
  }
  if (e.versions[2].second.handshake_done) {
    for (const auto& family : cipher_families()) {
      tls::ScanOffer f;
      f.min_version = f.max_version = "1.2";
      f.ciphers = family.ciphers;
      f.any_cipher = family.any_cipher;
      e.families.emplace_back(family.id, co_await scan(f));
    }
    // The order: the family's first choice moved to the end of our list ("-" takes it out,
    // naming it again appends it), then, if it still wins, the family without it.
    for (const auto& [id, o2] : e.families) {
      if (!o2.handshake_done || id == "null-anon") continue;
      const auto& family = *std::find_if(cipher_families().begin(), cipher_families().end(),
                                         [&](const CipherFamily& f) { return f.id == id; });
      e.order_first_choice = o2.cipher;
      tls::ScanOffer reversed;
      reversed.min_version = reversed.max_version = "1.2";
      reversed.ciphers = family.ciphers + ":-" + o2.cipher + ":" + o2.cipher;
      e.order_reversed = co_await scan(reversed);
      if (e.order_reversed.handshake_done && e.order_reversed.cipher == o2.cipher) {
        tls::ScanOffer without = reversed;
        without.ciphers = family.ciphers + ":!" + o2.cipher;
        e.order_without_first = co_await scan(without);
      }
      break;
    }
  }
  const bool any_version = std::any_of(e.versions.begin(), e.versions.end(),
                                       [](const auto& v) { return v.second.handshake_done; });
  if (!e.base.handshake_done && !any_version) {
    e.handshakes = budget.used();
    e.deadline_hit = skipped > 0;
    co_return e;
  }
  for (const auto& g : audit_groups()) {
    // Every version the server may speak: a TLS 1.0-only server has groups too.
    tls::ScanOffer only;
    only.min_version = "1.0";
    only.groups = g;
    e.groups.emplace_back(g, co_await scan(only));
  }
  e.handshakes = budget.used();
  e.deadline_hit = skipped > 0;
  co_return e;
}

}  // namespace tlsrelay::proxy

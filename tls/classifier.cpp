#include "tls/classifier.hpp"

#include "common/text.hpp"
#include "tls/classifier_parts.hpp"

// The classifier's parts live in classifier_{facts,network,smtp,tls,certificate}.cpp; this
// file only decides which part an attempt's ending belongs to.
namespace tlsrelay::tls {

using namespace detail;
using enum FailureClass;

Verdict classify(const AttemptFacts& f) {
  switch (f.ending) {
    case Ending::Ok: {
      Verdict v;
      v.cls = Ok;
      v.detail = f.certificate.verified ? "TLS " + f.tls.version + " " + f.tls.cipher + ", verified"
                 : f.tls.handshake_done ? "TLS " + f.tls.version + " " + f.tls.cipher
                                        : "plaintext";
      return v;
    }
    case Ending::LocalSetup:
      return make(LocalConfig, f.phase == Phase::None ? Phase::TlsHandshake : f.phase,
                  printable(f.local_detail, 300),
                  "fix our own setup: " + printable(f.local_detail, 300));
    case Ending::DnsNxdomain:
      return make(DnsNxdomain, Phase::Dns, "NXDOMAIN for " + f.upstream.host,
                  "the name " + f.upstream.host +
                      " does not exist in DNS; check the upstream's host name for a typo "
                      "(`dig " +
                      f.upstream.host + "`)");
    case Ending::DnsNoAddress:
      return make(DnsFailure, Phase::Dns, "no A/AAAA records for " + f.upstream.host,
                  f.upstream.host +
                      " exists but has no address records; check the host name "
                      "(an MX target is needed, not the mail domain)");
    case Ending::DnsError: {
      const std::string why = f.network.resolver_detail.empty() ? std::string("resolver failure")
                                                                : f.network.resolver_detail;
      return make(DnsFailure, Phase::Dns, why,
                  "the resolver could not answer for " + f.upstream.host + " (" + why +
                      "); check /etc/resolv.conf and that its DNS server answers (`dig " +
                      f.upstream.host + "`)");
    }
    case Ending::SocketError:
    case Ending::TimedOut:
    case Ending::PeerClosed:
      if (f.phase == Phase::Banner && f.ending == Ending::TimedOut &&
          f.smtp.implicit_tls_detected) {
        return make(TlsModeMismatch, Phase::Banner,
                    "no greeting within " + format_seconds(f.phase_timeout_s) +
                        ", but the port answers a TLS ClientHello",
                    where(f) +
                        " speaks implicit TLS (as on port 465) and waits for a TLS "
                        "handshake; set tls = implicit for this upstream");
      }
      if (f.phase == Phase::TlsHandshake) return classify_tls(f);
      return classify_network(f);
    case Ending::TlsFailed:
      return classify_tls(f);
    case Ending::VerifyFailed:
      return classify_certificate(f);
    case Ending::BadReply:
    case Ending::NotSmtp:
    case Ending::NoStarttls:
    case Ending::BytesAfterStarttls:
    case Ending::NoAuthMechanism:
      return classify_smtp(f);
  }
  return make(TlsError, f.phase, "unclassified", "");
}

}  // namespace tlsrelay::tls

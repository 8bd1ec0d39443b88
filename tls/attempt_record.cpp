#include "tls/attempt_record.hpp"

#include "common/time_format.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "common/text.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::tls {

std::string runbook_anchor(FailureClass c) {
  return "docs/failures.md#" + std::string(to_string(c));
}

using json = nlohmann::ordered_json;

namespace {

json opt_ms(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v * 1000.0) / 1000.0;
}

json str_or_null(std::string_view s) {
  if (s.empty()) return nullptr;
  return std::string(s);
}

// JSON strings must be valid UTF-8; peer bytes are escaped so a hostile banner cannot
// break the record (or the log line it is written to).
std::string safe(std::string_view peer_text) {
  return printable(peer_text, 1024);
}

json cert_json(const CertFacts& c) {
  json san = json::array();
  for (const auto& s : c.san) san.push_back(safe(s));
  return {{"subject", safe(c.subject)},
          {"issuer", safe(c.issuer)},
          {"not_before", c.not_before},
          {"not_after", c.not_after},
          {"san", san},
          {"key", c.key},
          {"signature", c.signature},
          {"self_signed", c.self_signed},
          {"is_ca", c.is_ca},
          {"sha256", c.sha256}};
}

}  // namespace

json attempt_record(const AttemptFacts& f, const Verdict& v) {
  const ClassInfo& ci = info(v.cls);
  const bool ok = v.cls == FailureClass::Ok;

  json chain = json::array();
  for (const auto& c : f.certificate.chain) chain.push_back(cert_json(c));
  json verify_errors = json::array();
  for (const auto& e : f.certificate.verify_errors) {
    verify_errors.push_back(
        {{"error", e.error},
         {"depth", e.depth},
         {"text", verify_error_text(e.error)},
         {"subject", e.subject.empty() ? json(nullptr) : json(safe(e.subject))}});
  }
  json handshake = json::array();
  for (int t : f.tls.handshake_messages_received) handshake.push_back(handshake_type_name(t));

  json transcript = json::array();
  for (const auto& l : f.smtp.transcript) transcript.push_back(l);  // escaped at capture
  json extensions = json::array();
  for (const auto& e : f.smtp.extensions) extensions.push_back(safe(e));
  json extensions_before = json::array();
  for (const auto& e : f.smtp.extensions_before_tls) extensions_before.push_back(safe(e));

  json rec;
  rec["time"] = iso8601_millis(f.started);
  rec["class"] = std::string(ci.name);
  rec["group"] = str_or_null(to_string(ci.group));
  rec["phase"] = ok ? json(nullptr) : str_or_null(to_string(v.phase));
  rec["rfc8460"] = str_or_null(ci.rfc8460);
  rec["transient"] = v.transient;
  rec["fault"] = str_or_null(to_string(ci.fault));
  rec["hint"] = ok ? json(nullptr) : str_or_null(v.hint);
  // The runbook section for the class: what to check and fix, with commands.
  rec["runbook"] = ok ? json(nullptr) : json(runbook_anchor(v.cls));
  rec["detail"] = str_or_null(v.detail);
  rec["upstream"] = {{"name", f.upstream.name},
                     {"host", f.upstream.host},
                     {"port", f.upstream.port},
                     {"address", str_or_null(f.network.address)},
                     {"tls_mode", std::string(to_string(f.upstream.tls_mode))}};
  rec["tls"] = {{"version", str_or_null(f.tls.version)},
                {"cipher", str_or_null(f.tls.cipher)},
                {"sni", str_or_null(f.tls.sni)},
                {"alerts_received", f.tls.alerts_received},
                {"alerts_sent", f.tls.alerts_sent},
                {"session_reused", f.tls.session_reused},
                {"fallback_scsv", f.tls.fallback_scsv},
                {"handshake_messages_received", handshake},
                {"bytes_received", f.tls.attempted ? json(f.tls.bytes_received) : json(nullptr)},
                {"failed_after_handshake", f.tls.failed_after_handshake}};
  rec["certificate"] = {
      {"verify_result",
       f.certificate.verify_result ? json(*f.certificate.verify_result) : json(nullptr)},
      {"verify_depth",
       f.certificate.verify_depth ? json(*f.certificate.verify_depth) : json(nullptr)},
      {"verify_errors", verify_errors},
      {"verify_name", str_or_null(f.certificate.verify_name)},
      {"verified", f.certificate.verified},
      {"peer_certificate", f.certificate.peer_certificate},
      {"chain", chain}};
  rec["smtp"] = {
      {"banner", f.smtp.banner ? json(safe(f.smtp.banner->joined())) : json(nullptr)},
      {"extensions", extensions},
      {"extensions_before_tls", extensions_before},
      {"transcript", transcript},
      {"last_reply", f.smtp.last_reply ? json(safe(f.smtp.last_reply->joined())) : json(nullptr)},
      {"unparsed", f.smtp.unparsed.empty() ? json(nullptr) : json(safe(f.smtp.unparsed))}};
  rec["network"] = {{"errno", str_or_null(errno_name(f.network.errno_value))},
                    {"bytes_received_in_phase", f.network.bytes_received_in_phase},
                    {"addresses", f.network.addresses},
                    {"local_address", str_or_null(f.network.local_address)}};
  rec["openssl_errors"] = f.tls.openssl_errors;
  rec["timings_ms"] = {
      {"dns", opt_ms(f.timings.dns)},           {"connect", opt_ms(f.timings.connect)},
      {"banner", opt_ms(f.timings.banner)},     {"ehlo", opt_ms(f.timings.ehlo)},
      {"starttls", opt_ms(f.timings.starttls)}, {"tls_handshake", opt_ms(f.timings.tls_handshake)},
      {"auth", opt_ms(f.timings.auth)},         {"total", opt_ms(f.timings.total)}};
  return rec;
}

}  // namespace tlsrelay::tls

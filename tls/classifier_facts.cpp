// The small fact readers every part of the classifier shares, and the verdict builder.
// Part of the classifier (classifier.hpp): a pure function of the facts, no I/O.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>

#include "common/text.hpp"
#include "common/time_format.hpp"
#include "tls/classifier_parts.hpp"
#include "tls/client_context.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::tls::detail {

using enum FailureClass;

// ---- small fact readers -------------------------------------------------------------------

std::string where(const AttemptFacts& f) {
  std::string s = f.upstream.host;
  if (!f.network.address.empty() && f.network.address != f.upstream.host) {
    s += "[" + f.network.address + "]";
  }
  return s + ":" + std::to_string(f.upstream.port);
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::optional<int> first_alert_received(const AttemptFacts& f) {
  for (int a : f.tls.alert_codes_received) {
    if (a != alert::kCloseNotify) return a;
  }
  // Fall back on OpenSSL's record of it: reason = SSL_AD_REASON_OFFSET + description.
  for (unsigned long e : f.tls.openssl_error_codes) {
    int reason = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
        reason < SSL_AD_REASON_OFFSET + 256) {
      return reason - SSL_AD_REASON_OFFSET;
    }
  }
  return std::nullopt;
}

bool ssl_reason(const AttemptFacts& f, int reason) {
  for (unsigned long e : f.tls.openssl_error_codes) {
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == reason) return true;
  }
  return false;
}

std::string openssl_detail(const AttemptFacts& f) {
  if (f.tls.openssl_errors.empty()) return "no OpenSSL error queued";
  return join(f.tls.openssl_errors, "; ");
}

bool reply_is_transient(const AttemptFacts& f) {
  return f.smtp.last_reply && f.smtp.last_reply->transient_failure();
}

std::string quoted_reply(const AttemptFacts& f) {
  if (!f.smtp.last_reply) return "(no reply)";
  return "\"" + printable(f.smtp.last_reply->joined(), 200) + "\"";
}

// Detail and hint go on into our replies, JSON records, /status and log lines, so every piece
// of peer text in them (a reply, a certificate's name, an EHLO keyword) is quoted through
// printable() where it is put in, once; fuzz/classifier_fuzz.cpp checks that none is raw (it
// found certificate names that were).
Verdict make(FailureClass c, Phase p, std::string detail, std::string hint) {
  Verdict v;
  v.cls = c;
  v.phase = p;
  v.detail = std::move(detail);
  v.hint = std::move(hint);
  v.transient = info(c).transience == Transience::Always;
  return v;
}

}  // namespace tlsrelay::tls::detail

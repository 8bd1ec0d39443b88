// The classifier's inside (classifier.hpp is its outside): the fact readers its parts share
// and one entry point per kind of failure, each in its own file. Not for use elsewhere.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::tls::detail {

// ---- shared fact readers (classifier_facts.cpp) ---------------------------------------

// "mx.example.net[192.0.2.10]:587"
std::string where(const AttemptFacts& f);
bool contains(const std::vector<int>& v, int x);
// The first fatal alert the server sent (a warning is not a refusal).
std::optional<int> first_alert_received(const AttemptFacts& f);
// Whether OpenSSL queued this SSL-library reason code.
bool ssl_reason(const AttemptFacts& f, int reason);
std::string openssl_detail(const AttemptFacts& f);
bool reply_is_transient(const AttemptFacts& f);
// The reply that ended the attempt, quoted and escaped.
std::string quoted_reply(const AttemptFacts& f);
// A verdict with the class's transience; detail and hint are escaped where quoted.
Verdict make(FailureClass c, Phase p, std::string detail, std::string hint);

// ---- one entry point per kind of failure ----------------------------------------------

Verdict classify_network(const AttemptFacts& f);      // classifier_network.cpp
Verdict classify_smtp(const AttemptFacts& f);         // classifier_smtp.cpp
Verdict classify_tls(const AttemptFacts& f);          // classifier_tls.cpp
Verdict classify_certificate(const AttemptFacts& f);  // classifier_certificate.cpp

}  // namespace tlsrelay::tls::detail

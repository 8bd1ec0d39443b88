// Reads the facts of an X.509 certificate that an admin needs to see and the classifier
// uses: names, validity, SANs, key and signature algorithm, self-signedness.
//
// Thread-safe (reads the certificate only).
#pragma once

#include <openssl/x509.h>

#include "tls/attempt.hpp"

namespace tlsrelay::tls {

CertFacts cert_facts(X509* cert);

}  // namespace tlsrelay::tls

// The human transcript of one probe attempt: the phases with their times, the SMTP
// dialogue, the TLS details, the certificate chain as sent, then the verdict and hint.
//
// Pure formatting; thread-safe.
#pragma once

#include <ostream>

#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

void print_probe_report(std::ostream& out, const tls::AttemptFacts& facts,
                        const tls::Verdict& verdict, bool colour);

}  // namespace tlsrelay::proxy

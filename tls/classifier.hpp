// The classifier: a pure function from what one attempt saw to exactly one failure class
// of ../shared/spec/failure-classes.md, with a one-line detail and a plain-words hint.
//
// It reads codes (errno, SMTP reply codes, TLS alert numbers, OpenSSL reason codes, X.509
// verify errors with their depth, the chain as sent) and never the text of a message.
// Deterministic and thread-safe; no I/O.
#pragma once

#include <string>

#include "common/failure_class.hpp"
#include "tls/attempt.hpp"

namespace tlsrelay::tls {

struct Verdict {
  FailureClass cls = FailureClass::Ok;
  Phase phase = Phase::None;  // where it ended; may refine the connector's phase
  bool transient = false;
  std::string detail;  // the facts that decided it, e.g. "verify error 10 ... at depth 0"
  std::string hint;    // what to check or fix, and where
};

Verdict classify(const AttemptFacts& facts);

}  // namespace tlsrelay::tls

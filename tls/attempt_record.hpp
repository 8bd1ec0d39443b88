// The attempt record of ../shared/spec/interfaces.md: one JSON object per upstream attempt,
// printed by `tlsrelay probe --json` and written, one per line, to the proxy's event log.
//
// Every required key is always present; absent facts are null or empty lists. Peer text is
// escaped by the JSON encoder; no secret is in the facts to begin with. Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::tls {

nlohmann::ordered_json attempt_record(const AttemptFacts& facts, const Verdict& verdict);

// Where the runbook explains a class: "docs/failures.md#certificate-expired" (installed as
// /usr/share/doc/tlsrelay/docs/failures.md).
std::string runbook_anchor(FailureClass c);

}  // namespace tlsrelay::tls

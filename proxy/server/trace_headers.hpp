// The trace fields we prepend to every relayed message (interfaces.md "Per-message
// headers"), and the guard that keeps the client's own bytes out of them.
//
// trace_fields(): `TLS-Relay` for the upstream that took the message, then one
// `TLS-Relay-Failure` per failed attempt before it, oldest first. Every value comes from the
// attempt facts, and `verify=ok` only from CertificateFacts::verified.
//
// ClientHeaderGuard: sits between the data reader and the DataWriter. No byte the client
// sends can become part of a field we write, and no field the client sends passes as ours:
// - a field named TLS-Relay or TLS-Relay-Failure in the client's header section is renamed
//   X-Untrusted-TLS-Relay / X-Untrusted-TLS-Relay-Failure (its value and any continuation
//   lines untouched). Renamed rather than removed, unlike the milter's route fields: those
//   say how this host's route is now, so an old copy means nothing, while TLS-Relay is a trace
//   record like Received: an earlier relay's copy may be real history, kept under a name
//   that is not ours.
// - a first line that begins with a space or tab would continue (fold into) our last field;
//   a line that is neither a field nor a continuation ends the header section for some
//   readers (Postfix) and not for others (those that read on to the empty line). Either
//   way an empty line is written before it, so that every reader agrees where the body
//   starts and no TLS-Relay after it can pass for ours.
// - a renamed line longer than 998 octets is folded after its colon.
// Everything else passes byte for byte. After the header section the guard only forwards.
//
// Pure; one guard per message; not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/policy/policy.hpp"
#include "proxy/server/data_writer.hpp"

namespace tlsrelay::proxy {

// Our fields, each ready for DataWriter::line() (folded, CR/LF-free values).
// `profile` is the route's TLS profile when it is not the normal one ("compat",
// "plaintext"): it ends TLS-Relay as `profile=...`, so the message says it took a fallback.
std::vector<std::string> trace_fields(const tls::AttemptFacts& upstream,
                                      const std::vector<FailedAttempt>& failures,
                                      std::string_view profile = {});

class ClientHeaderGuard {
 public:
  static constexpr std::string_view kRenamePrefix = "X-Untrusted-";

  // One logical line of the client's message, in order, onto `writer`.
  void line(std::string_view content, DataWriter& writer);
  // A run of the reader's clean lines: line by line while in the header section, then the
  // rest whole (the body needs no guard).
  void lines(const CleanLines& run, DataWriter& writer);
  // How many of the client's fields carried our names (for the transaction log).
  unsigned renamed() const { return renamed_; }

 private:
  void write_renamed(std::string_view content, DataWriter& writer);

  bool first_ = true;
  bool in_headers_ = true;
  unsigned renamed_ = 0;
};

// Whether a header line starts a field named `name` (case-insensitive; RFC 5322 4.5.3
// obsolete syntax allows white space before the colon).
bool starts_field(std::string_view line, std::string_view name);

}  // namespace tlsrelay::proxy

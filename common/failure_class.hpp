// The failure classes of ../shared/spec/failure-classes.md: ids, groups and their metadata.
//
// This header is the single table the classifier, the JSON record, the policy rules and the
// runbook read; the ids are a public contract and must never change. Immutable data,
// thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace tlsrelay {

enum class FailureClass {
  Ok,
  DnsNxdomain,
  DnsFailure,
  ConnectRefused,
  ConnectTimeout,
  NetworkUnreachable,
  ConnectionReset,
  ConnectionClosed,
  Timeout,
  NotSmtp,
  BannerRejected,
  EhloRejected,
  StarttlsNotOffered,
  StarttlsStripped,
  StarttlsRejected,
  StarttlsInjection,
  TlsModeMismatch,
  TlsProtocolMismatch,
  TlsNoSharedCipher,
  TlsWeakParameters,
  TlsSniRequired,
  TlsClientCertificateRequired,
  TlsAlert,
  TlsError,
  CertificateExpired,
  CertificateNotYetValid,
  ClientClockSkew,
  CertificateHostMismatch,
  CertificateChainIncomplete,
  CertificateUntrusted,
  CertificateSelfSigned,
  CertificateWeak,
  CertificateRevoked,
  CertificateInvalid,
  AuthFailed,
  AuthUnavailable,
  LocalConfig,
};

// What a policy rule may name instead of single classes ([policy.rules] "network" = ...).
enum class FailureGroup { None, Dns, Network, Smtp, Starttls, Tls, Certificate, Auth, Local };
std::string_view to_string(FailureGroup g);  // "" for None (ok has no group)
std::optional<FailureGroup> group_from_string(std::string_view name);

// Where the fix lives.
enum class Fault { None, Local, Network, Remote };

// Whether a later try may succeed without anybody changing anything. "ByReply" classes are
// transient when the SMTP reply that ended them was 4xx, permanent when it was 5xx.
enum class Transience { Never, Always, ByReply };

struct ClassInfo {
  FailureClass id;
  std::string_view name;     // the public id, e.g. "certificate-expired"
  FailureGroup group;        // None for ok
  std::string_view rfc8460;  // "" when it is not a TLS-RPT failure
  Transience transience;
  Fault fault;
  std::string_view meaning;  // the table's "what it means", for --help and docs
};

// Every class in table order.
const ClassInfo* all_classes_begin();
const ClassInfo* all_classes_end();

const ClassInfo& info(FailureClass c);
std::string_view to_string(FailureClass c);
std::string_view to_string(Fault f);
std::optional<FailureClass> class_from_string(std::string_view name);
bool is_group_name(std::string_view name);  // group_from_string() names a group

// Phases of one attempt, in order. Their names are the public phase ids.
enum class Phase {
  None,
  Dns,
  Connect,
  Banner,
  Ehlo,
  Starttls,
  TlsHandshake,
  Certificate,
  Auth,
  Transaction,
};

std::string_view to_string(Phase p);

}  // namespace tlsrelay

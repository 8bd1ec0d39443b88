// Fuzzes the classifier with attempt facts a hostile or broken server can steer: its
// replies and non-SMTP bytes, TLS alerts, the chain it sends and the verification errors
// that chain causes, EHLO keywords, OpenSSL error codes, socket errors; our own facts
// (clock, build time, phase, how the attempt ended) vary too. Peer bytes enter the facts
// the way capture does it (replies through the reply parser, transcript lines escaped).
//
// Invariants: every input gets a verdict whose class is in the table and which has a hint
// when it is a failure; the 451 we would answer our client with is one reply with CRLF
// only at its end and no NUL; the attempt record serialises as strict JSON (valid UTF-8).
#include <fuzzer/FuzzedDataProvider.h>

#include <cassert>
#include <cstdint>
#include <string>
#include <vector>

#include "common/smtp_reply.hpp"
#include "common/text.hpp"
#include "proxy/policy/replies.hpp"
#include "tls/attempt_record.hpp"
#include "tls/classifier.hpp"

using namespace tlsrelay;
using namespace tlsrelay;
using namespace tlsrelay::tls;

namespace {

std::optional<Reply> reply_from(FuzzedDataProvider& in) {
  if (!in.ConsumeBool()) return std::nullopt;
  std::string text = in.ConsumeRandomLengthString(400);
  std::string_view rest = text;
  ReplyParser parser;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const auto s = parser.feed(line);
    if (s == ReplyParser::Status::NotSmtp) return std::nullopt;
    if (s == ReplyParser::Status::Complete) return parser.take();
  }
  return std::nullopt;
}

// One of the values OpenSSL or our config produce (ASCII names); with `or_any`, sometimes
// arbitrary bytes instead, for what a peer controls.
std::string pick(FuzzedDataProvider& in, std::initializer_list<const char*> known,
                 bool or_any = false) {
  const std::size_t i = in.ConsumeIntegralInRange<std::size_t>(0, known.size() - !or_any);
  if (i == known.size()) return in.ConsumeRandomLengthString(40);
  return known.begin()[i];
}

std::int64_t epoch(FuzzedDataProvider& in) {
  // Around now most of the time, anything at all sometimes.
  if (in.ConsumeBool()) return in.ConsumeIntegral<std::int64_t>();
  return 1'700'000'000 + in.ConsumeIntegralInRange<std::int64_t>(-400'000'000, 400'000'000);
}

CertFacts cert_from(FuzzedDataProvider& in) {
  CertFacts c;
  c.subject = in.ConsumeRandomLengthString(80);
  c.issuer = in.ConsumeRandomLengthString(80);
  c.not_before_epoch = epoch(in);
  c.not_after_epoch = epoch(in);
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    c.san.push_back(in.ConsumeRandomLengthString(40));
  }
  c.key = pick(in, {"RSA-2048", "RSA-1024", "EC-256", "ED25519"});
  c.key_bits = in.ConsumeIntegralInRange(0, 8192);
  c.signature = pick(in, {"sha256WithRSAEncryption", "sha1WithRSAEncryption", "ED25519"});
  c.self_signed = in.ConsumeBool();
  c.is_ca = in.ConsumeBool();
  return c;
}

AttemptFacts facts_from(FuzzedDataProvider& in) {
  AttemptFacts f;
  f.upstream.name = "fuzz";
  f.upstream.host = pick(in, {"mx.example.net", "192.0.2.10", "smtp.gmail.com"});
  f.upstream.port = in.ConsumeIntegral<std::uint16_t>();
  f.upstream.tls_mode = static_cast<TlsMode>(in.ConsumeIntegralInRange(0, 2));
  f.auth_requested = in.ConsumeBool();
  f.phase = static_cast<Phase>(in.ConsumeIntegralInRange(0, static_cast<int>(Phase::Transaction)));
  f.ending =
      static_cast<Ending>(in.ConsumeIntegralInRange(0, static_cast<int>(Ending::LocalSetup)));
  f.min_version = pick(in, {"1.2", "1.3", "1.0"});
  f.phase_timeout_s = in.ConsumeFloatingPointInRange(0.0, 600.0);
  f.clock_now = epoch(in);
  f.build_epoch = epoch(in);
  f.local_detail = in.ConsumeRandomLengthString(40);

  TlsFacts& t = f.tls;
  t.attempted = in.ConsumeBool();
  t.sni = in.ConsumeBool() ? f.upstream.host : "";
  t.version = pick(in, {"", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"});
  t.cipher = pick(in, {"", "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "RC4-SHA"});
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    t.alert_codes_received.push_back(in.ConsumeIntegralInRange(0, 255));
  }
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    t.alert_codes_sent.push_back(in.ConsumeIntegralInRange(0, 255));
  }
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    t.handshake_messages_received.push_back(in.ConsumeIntegralInRange(0, 255));
  }
  t.session_reused = in.ConsumeBool();
  t.handshake_done = in.ConsumeBool();
  t.failed_after_handshake = in.ConsumeBool();
  t.bytes_received = in.ConsumeIntegralInRange<std::uint64_t>(0, 100000);
  t.first_bytes = in.ConsumeRandomLengthString(32);
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    // ERR_PACK(lib, 0, reason): mostly the SSL library (20), any reason.
    const unsigned long lib = in.ConsumeBool() ? 20 : in.ConsumeIntegralInRange(0, 60);
    t.openssl_error_codes.push_back((lib << 23) | in.ConsumeIntegralInRange(0, 0x7fffff));
  }

  CertificateFacts& c = f.certificate;
  if (in.ConsumeBool()) c.verify_result = in.ConsumeIntegralInRange(-1, 100);
  if (in.ConsumeBool()) c.verify_depth = in.ConsumeIntegralInRange(-1, 20);
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    VerifyError e;
    e.error = in.ConsumeIntegralInRange(0, 100);
    e.depth = in.ConsumeIntegralInRange(0, 10);
    e.subject = in.ConsumeRandomLengthString(60);
    e.issuer = in.ConsumeRandomLengthString(60);
    e.not_before_epoch = epoch(in);
    e.not_after_epoch = epoch(in);
    e.self_signed = in.ConsumeBool();
    e.key = pick(in, {"RSA-2048", "RSA-1024", "EC-256"});
    e.signature = pick(in, {"sha256WithRSAEncryption", "sha1WithRSAEncryption"});
    c.verify_errors.push_back(e);
  }
  c.verify_name = f.upstream.host;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) c.chain.push_back(cert_from(in));
  c.verified_chain_length = in.ConsumeIntegralInRange(0, 10);

  SmtpFacts& s = f.smtp;
  s.banner = reply_from(in);
  s.last_reply = reply_from(in);
  for (int n = in.ConsumeIntegralInRange(0, 6); n > 0; --n) {
    s.extensions.push_back(pick(in,
                                {"STARTTLS", "AUTH PLAIN LOGIN", "AUTH XOAUTH2", "PIPELINING",
                                 "SIZE 35882577", "REQUIRETLS"},
                                true));
  }
  s.extensions_before_tls = s.extensions;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) {
    s.transcript.push_back(printable("S: " + in.ConsumeRandomLengthString(60), 300));
  }
  s.unparsed = in.ConsumeRandomLengthString(256);
  s.auth_mechanism = pick(in, {"", "PLAIN", "LOGIN", "XOAUTH2"});
  s.helo_fallback = in.ConsumeBool();
  s.implicit_tls_detected = in.ConsumeBool();
  s.bytes_after_starttls = in.ConsumeIntegralInRange<std::uint64_t>(0, 1000);

  f.network.address = "192.0.2.10";
  f.network.errno_value = in.ConsumeIntegralInRange(0, 140);
  f.network.bytes_received_in_phase = in.ConsumeIntegralInRange<std::uint64_t>(0, 1000);
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const AttemptFacts facts = facts_from(in);
  const Verdict v = classify(facts);
  const ClassInfo& ci = info(v.cls);
  assert(ci.id == v.cls);
  if (v.cls != FailureClass::Ok) assert(!v.hint.empty());

  const Reply deferral = proxy::deferral_reply(facts, v, 1, 1);
  const std::string wire = to_wire(deferral);
  assert(deferral.code >= 400 && deferral.code < 500);
  assert(wire.size() >= 2 && wire.find("\r\n") == wire.size() - 2);
  assert(wire.find('\0') == std::string::npos);
  assert(wire.find('\n') == wire.size() - 1);

  (void)attempt_record(facts, v).dump();  // throws (and so fails) on invalid UTF-8
  return 0;
}

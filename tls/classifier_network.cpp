// Network failures: connect, resets, closes and time-outs in any phase, with the bytes
// that arrived (the MTU black-hole signature).
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

// ---- network ------------------------------------------------------------------------------

namespace {

std::string flight_detail(const AttemptFacts& f) {
  if (f.phase != Phase::TlsHandshake) {
    return std::to_string(f.network.bytes_received_in_phase) + " bytes received in " +
           std::string(to_string(f.phase));
  }
  if (f.tls.bytes_received == 0) return "0 bytes of the server's reply after our ClientHello";
  return std::to_string(f.tls.bytes_received) +
         " bytes of the server's handshake arrived, then nothing";
}

// The openssl command that repeats this attempt's handshake by hand: "-starttls smtp" only
// for STARTTLS, an IPv6 address in brackets ("[2a00::1]:587"; s_client refuses it bare).
std::string s_client_command(const AttemptFacts& f) {
  const std::string& a = f.network.address;
  const std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
  std::string cmd = "openssl s_client";
  if (f.upstream.tls_mode == TlsMode::Starttls) cmd += " -starttls smtp";
  cmd += " -connect " + host + ":" + std::to_string(f.upstream.port);
  if (!f.tls.sni.empty()) cmd += " -servername " + f.tls.sni;
  return cmd;
}

}  // namespace

Verdict classify_network(const AttemptFacts& f) {
  const int e = f.network.errno_value;
  const std::string at = where(f);
  const std::string phase(to_string(f.phase));
  if (f.phase == Phase::Connect) {
    if (f.ending == Ending::TimedOut || e == ETIMEDOUT) {
      return make(ConnectTimeout, Phase::Connect,
                  "no answer to SYN from " + at + " within " + format_seconds(f.phase_timeout_s),
                  "nothing answered " + at +
                      ": a firewall silently drops the traffic (many networks block outbound "
                      "port 25; try 587 or 465), or the host is down; check with `nc -vz " +
                      f.network.address + " " + std::to_string(f.upstream.port) + "`");
    }
    if (e == ECONNREFUSED) {
      return make(ConnectRefused, Phase::Connect, "TCP reset to our SYN from " + at,
                  "nothing listens on " + at +
                      ", or a firewall rejects with a reset; check the port (587 for "
                      "STARTTLS, 465 for implicit TLS, 25) and that the server runs");
    }
    if (e == ECONNRESET || e == ECONNABORTED || e == EPIPE) {
      // The handshake completed and the reset came before we saw it complete: the listener
      // took the connection and dropped it at once (not a routing problem).
      return make(ConnectionReset, Phase::Connect,
                  errno_name(e) + " right after connecting to " + at,
                  at + " accepted the connection and reset it at once: the server may limit "
                       "connections (per client or in total) or be shutting down, or a "
                       "firewall resets it");
    }
    return make(NetworkUnreachable, Phase::Connect, errno_name(e) + " connecting to " + at,
                "no route to " + f.network.address + " (" + errno_name(e) +
                    "): check routing and IPv6 connectivity (`ip route get " + f.network.address +
                    "`), or a firewall answering with ICMP unreachable");
  }
  if (f.ending == Ending::TimedOut || e == ETIMEDOUT) {
    std::string hint;
    if (f.phase == Phase::TlsHandshake && f.tls.bytes_received > 0) {
      hint = "the server's handshake stopped after " + std::to_string(f.tls.bytes_received) +
             " bytes: the signature of a path-MTU black hole (large packets dropped, ICMP "
             "'fragmentation needed' filtered); check the MTU/MSS on the path (`ip link`, "
             "`tracepath " +
             f.network.address + "`, MSS clamping)";
    } else if (f.phase == Phase::TlsHandshake) {
      hint =
          "the server sent nothing after our ClientHello: a middlebox that stalls TLS, "
          "or a server that does not speak TLS on this port; try `" +
          s_client_command(f) + "`";
    } else if (f.phase == Phase::Banner) {
      hint = "connected, but " + at +
             " sent no SMTP greeting: an overloaded server, a "
             "tarpit, or a port that expects implicit TLS or another protocol";
    } else {
      hint = "the server stopped answering during " + phase +
             "; it may be overloaded, or a middlebox interferes";
    }
    return make(Timeout, f.phase,
                "no answer within " + format_seconds(f.phase_timeout_s) + " during " + phase +
                    "; " + flight_detail(f),
                hint);
  }
  if (e == ECONNRESET || e == EPIPE || e == ECONNABORTED || e != 0) {
    std::string hint = f.phase == Phase::TlsHandshake
                           ? "the connection was reset during the TLS handshake: a firewall or "
                             "IPS that inspects TLS, or a server that refuses our TLS offer"
                           : "the server or a middlebox reset the connection during " + phase;
    return make(
        ConnectionReset, f.phase,
        (e ? errno_name(e) : std::string("reset")) + " during " + phase + "; " + flight_detail(f),
        hint);
  }
  std::string hint = f.phase == Phase::TlsHandshake
                         ? "the server closed the connection during the TLS handshake without "
                           "an alert: it may not like our ClientHello (versions, SNI), or a "
                           "middlebox cut it"
                         : "the server closed the connection during " + phase +
                               " without a reply; it may be overloaded or limit connections";
  return make(ConnectionClosed, f.phase, "EOF during " + phase + "; " + flight_detail(f), hint);
}

}  // namespace tlsrelay::tls::detail

#include "proxy/policy/replies.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its code and CRLF.
constexpr std::size_t kMaxReplyText = 480;
// What comes before the transaction id at the end of a reply's text.
constexpr std::string_view kTxnMark = "; txn ";

}  // namespace

std::string deferral_enhanced_code(FailureClass c) {
  const auto& ci = info(c);
  switch (c) {
    case FailureClass::ConnectionReset:
    case FailureClass::ConnectionClosed:
      return "4.4.2";
    case FailureClass::LocalConfig:
      return "4.3.5";
    default:
      break;
  }
  switch (ci.group) {
    case FailureGroup::Dns:
      return "4.4.3";
    case FailureGroup::Network:
      return "4.4.1";
    case FailureGroup::Tls:
    case FailureGroup::Certificate:
      return "4.7.5";
    case FailureGroup::Starttls:
    case FailureGroup::Auth:
      return "4.7.0";
    case FailureGroup::None:
    case FailureGroup::Smtp:
    case FailureGroup::Local:
      break;
  }
  return "4.4.0";
}

Reply deferral_reply(const tls::AttemptFacts& last, const tls::Verdict& v, int attempts,
                     int upstreams) {
  const auto& u = last.upstream;
  std::string where = u.host;
  if (!last.network.address.empty()) where += "[" + last.network.address + "]";
  where += ":" + std::to_string(u.port);
  std::string text = "tlsrelay: " + u.name + " " + where + " " + std::string(to_string(v.cls)) +
                     ": " + v.hint + "; tried " + std::to_string(attempts) +
                     (attempts == 1 ? " time" : " times") + " over " + std::to_string(upstreams) +
                     (upstreams == 1 ? " upstream" : " upstreams");
  return make_reply(451, deferral_enhanced_code(v.cls), printable(text, kMaxReplyText));
}

namespace {

std::string where_of(const tls::AttemptFacts& f) {
  std::string where = f.upstream.host;
  if (!f.network.address.empty()) where += "[" + f.network.address + "]";
  return where + ":" + std::to_string(f.upstream.port);
}

// One upstream's share of a failed route: its last failure and how many attempts it had.
struct UpstreamTried {
  const FailedAttempt* last = nullptr;
  int attempts = 0;
};

std::vector<UpstreamTried> by_upstream(const std::vector<FailedAttempt>& failures) {
  std::vector<UpstreamTried> tried;
  for (const auto& f : failures) {
    auto it = std::find_if(tried.begin(), tried.end(), [&](const UpstreamTried& t) {
      return t.last->facts.upstream.name == f.facts.upstream.name;
    });
    if (it == tried.end()) it = tried.insert(tried.end(), UpstreamTried{});
    it->last = &f;
    ++it->attempts;
  }
  std::stable_partition(tried.begin(), tried.end(),
                        [](const UpstreamTried& t) { return !t.last->verdict.transient; });
  return tried;
}

}  // namespace

Reply deferral_reply(const std::vector<FailedAttempt>& failures, int upstreams,
                     std::string_view txn) {
  const std::vector<UpstreamTried> tried = by_upstream(failures);
  const FailedAttempt& lead = *tried.front().last;
  const int attempts = static_cast<int>(failures.size());
  std::string tail = "; tried " + std::to_string(attempts) + (attempts == 1 ? " time" : " times") +
                     " over " + std::to_string(upstreams) +
                     (upstreams == 1 ? " upstream" : " upstreams");
  if (!txn.empty()) tail += "; txn " + printable(txn, 40);
  std::string head = "tlsrelay: ";
  if (tried.size() > 1) {
    std::string summary;
    for (const auto& t : tried) {
      if (!summary.empty()) summary += ", ";
      summary += t.last->facts.upstream.name + " " + std::string(to_string(t.last->verdict.cls));
      if (t.attempts > 1) summary += " (" + std::to_string(t.attempts) + " tries)";
    }
    head += printable(summary, 200) + "; " + lead.facts.upstream.name + " " + where_of(lead.facts) +
            ": ";
  } else {
    head += lead.facts.upstream.name + " " + where_of(lead.facts) + " " +
            std::string(to_string(lead.verdict.cls)) + ": ";
  }
  // The hint gives way, never the names, the count or the transaction id.
  const std::size_t enhanced = deferral_enhanced_code(lead.verdict.cls).size() + 1;
  const std::size_t room = kMaxReplyText > enhanced + head.size() + tail.size() + 3
                               ? kMaxReplyText - enhanced - head.size() - tail.size() - 3
                               : 0;
  return make_reply(451, deferral_enhanced_code(lead.verdict.cls),
                    head + printable(lead.verdict.hint, room) + tail);
}

Reply rejection_reply(const Reply& deferral, const tls::Verdict& verdict) {
  const FailureGroup group = info(verdict.cls).group;
  const std::string enhanced =
      (group == FailureGroup::Tls || group == FailureGroup::Certificate) ? "5.7.5" : "5.7.0";
  std::string text = deferral.lines.empty() ? std::string() : deferral.lines.front();
  text = text.substr(std::min(text.size(), deferral.enhanced.size() + 1));
  return make_reply(554, enhanced, text);
}

Reply requiretls_reply(const std::string& upstream) {
  return make_reply(550, "5.7.30",
                    "REQUIRETLS support required (tlsrelay: " + upstream +
                        " does not offer REQUIRETLS with verified TLS)");
}

Reply extension_missing_reply(const std::string& upstream, const std::string& extension) {
  const bool utf8 = extension == "SMTPUTF8";
  return make_reply(
      utf8 ? 553 : 554, utf8 ? "5.6.7" : "5.6.3",
      "tlsrelay: " + upstream + " does not support " + extension + ", which this message needs");
}

// Like every deferral, it names the class (interfaces.md), so the MTA's queue says why.
Reply lost_upstream_reply(const std::string& upstream, const std::string& stage,
                          FailureClass lost) {
  const bool timeout = lost == FailureClass::Timeout;
  std::string what = timeout ? "no reply in time to " + stage
                     : lost == FailureClass::ConnectionReset
                         ? "the connection was reset during " + stage
                         : "the connection was closed during " + stage;
  // RFC 1047: after the final dot went out, only the reply was lost.
  what += stage == "end of DATA" ? "; the message may have been delivered, a duplicate is possible"
                                 : "; the message was not delivered, retry later";
  return make_reply(451, timeout ? "4.4.1" : "4.4.2",
                    "tlsrelay: " + upstream + " " + std::string(to_string(lost)) + ": " + what);
}

Reply replay_failed_reply(const Reply& lost, const std::string& why) {
  std::string text = lost.lines.empty() ? std::string() : lost.lines.front();
  text = text.substr(std::min(text.size(), lost.enhanced.size() + 1));
  const std::size_t txn = text.rfind(kTxnMark);
  const std::string id =
      txn == std::string::npos ? std::string() : text.substr(txn + kTxnMark.size());
  if (txn != std::string::npos) text.resize(txn);
  return with_txn(make_reply(lost.code, lost.enhanced, text + "; replay: " + printable(why, 200)),
                  id);
}

Reply with_txn(const Reply& ours, std::string_view txn) {
  if (txn.empty() || ours.lines.empty()) return ours;
  std::string text = ours.lines.front();
  text = text.substr(std::min(text.size(), ours.enhanced.size() + 1));
  const std::string tail = std::string(kTxnMark) + printable(txn, 40);
  const std::size_t head = ours.enhanced.empty() ? 0 : ours.enhanced.size() + 1;
  if (head + text.size() + tail.size() > kMaxReplyText) {
    text.resize(kMaxReplyText - head - tail.size());
  }
  return make_reply(ours.code, ours.enhanced, text + tail);
}

Reply unexpected_reply(const std::string& upstream, const std::string& stage, const Reply& got) {
  return make_reply(451, "4.5.0",
                    "tlsrelay: " + upstream + " answered " + stage + " with \"" +
                        printable(got.first_line(), 120) + "\"");
}

// ---- what the session says on its own ------------------------------------------------

Reply shutting_down_reply(const std::string& hostname) {
  return make_reply(421, "4.3.2", hostname + " Service shutting down, closing channel");
}

Reply evicted_reply(const std::string& hostname) {
  return make_reply(421, "4.7.0",
                    hostname + " Error: too many connections; closing the one idle longest");
}

Reply client_timeout_reply(const std::string& hostname) {
  return make_reply(421, "4.4.2", hostname + " Error: timeout exceeded");
}

Reply abandoned_reply(const std::string& why) {
  return make_reply(421, "4.4.2", why);
}

Reply too_big_closing_reply(const std::string& hostname) {
  return make_reply(421, "4.3.4",
                    hostname + " Error: message size exceeds fixed limit; closing the connection");
}

Reply go_ahead_reply() {
  return make_reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

Reply chunk_accepted_reply(std::uint64_t octets) {
  return make_reply(250, "2.0.0", std::to_string(octets) + " octets received");
}

Reply no_upstream_reply() {
  return make_reply(451, "4.3.5", "tlsrelay: no upstream is configured");
}

Reply client_refused_reply(const std::string& client) {
  return make_reply(554, "5.7.1", "<" + client + ">: Client host rejected: Access denied");
}

Reply connection_rate_reply(const std::string& hostname, const std::string& client) {
  return make_reply(
      421, "4.7.0",
      hostname + " Error: too many connections from " + client + " in the last minute");
}

Reply connection_limit_reply(const std::string& hostname) {
  return make_reply(421, "4.7.0", hostname + " Error: too many connections");
}

}  // namespace tlsrelay::proxy

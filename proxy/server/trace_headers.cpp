#include "proxy/server/trace_headers.hpp"
#include "common/time_format.hpp"

#include "common/text.hpp"
#include "tls/attempt_record.hpp"

namespace tlsrelay::proxy {

namespace {

constexpr std::string_view kRelayField = "TLS-Relay";
constexpr std::string_view kFailureField = "TLS-Relay-Failure";

// RFC 5322 3.6.8 (and the obsolete 4.5 form): 1*ftext, optional WSP, ":".
bool is_field(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] > 32 && line[i] < 127 && line[i] != ':') ++i;
  if (i == 0) return false;
  while (i < line.size() && is_wsp(line[i])) ++i;
  return i < line.size() && line[i] == ':';
}

}  // namespace

bool starts_field(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || !iequals(line.substr(0, name.size()), name)) {
    return false;
  }
  std::size_t i = name.size();
  while (i < line.size() && is_wsp(line[i])) ++i;
  return i < line.size() && line[i] == ':';
}

std::vector<std::string> trace_fields(const tls::AttemptFacts& f,
                                      const std::vector<FailedAttempt>& failures,
                                      std::string_view profile) {
  std::vector<std::string> fields;
  std::string relay = "upstream=" + f.upstream.name + "; host=" + f.upstream.host +
                      "; address=" + f.network.address +
                      "; tls=" + (f.tls.version.empty() ? "none" : f.tls.version);
  if (!f.tls.cipher.empty()) relay += "; cipher=" + f.tls.cipher;
  relay += std::string("; verify=") + (f.certificate.verified ? "ok" : "none") +
           "; attempts=" + std::to_string(failures.size() + 1);
  if (!profile.empty()) relay += "; profile=" + std::string(profile);
  fields.push_back(format_header_field(kRelayField, relay));
  int attempt = 0;
  for (const auto& failed : failures) {
    ++attempt;
    fields.push_back(format_header_field(
        kFailureField,
        "attempt=" + std::to_string(attempt) + "; upstream=" + failed.facts.upstream.name +
            "; address=" +
            (failed.facts.network.address.empty() ? "-" : failed.facts.network.address) +
            "; class=" + std::string(to_string(failed.verdict.cls)) +
            "; phase=" + std::string(to_string(failed.verdict.phase)) +
            "; time=" + iso8601_seconds(failed.facts.started) +
            (failed.recurrence ? "; recurrence=" + std::string(to_string(*failed.recurrence))
                               : std::string())));
  }
  return fields;
}

void ClientHeaderGuard::line(std::string_view content, DataWriter& writer) {
  if (!in_headers_) {
    writer.line(content);
    return;
  }
  const bool first = first_;
  first_ = false;
  if (content.empty()) {
    in_headers_ = false;
  } else if ((is_wsp(content.front()) && first) ||
             (!is_wsp(content.front()) && !is_field(content))) {
    // A continuation of no field (it would fold into our last one), or a line that is no
    // field at all: the header section has ended. Readers disagree about such a line
    // (Postfix starts the body there, a lenient one reads fields on to the empty line and
    // would take a TLS-Relay after it for ours), so the empty line is written here.
    writer.line("");
    in_headers_ = false;
  } else if (starts_field(content, kRelayField) || starts_field(content, kFailureField)) {
    ++renamed_;
    write_renamed(content, writer);
    return;
  }
  writer.line(content);
}

void ClientHeaderGuard::lines(const CleanLines& run, DataWriter& writer) {
  CleanLines rest = run;
  while (in_headers_ && !rest.empty()) {
    const auto [first, after] = rest.split_first();
    line(first, writer);
    rest = after;
  }
  if (!rest.empty()) writer.lines(rest);
}

void ClientHeaderGuard::write_renamed(std::string_view content, DataWriter& writer) {
  std::string renamed(kRenamePrefix);
  renamed += content;
  if (renamed.size() <= kMaxHeaderLine) {
    writer.line(renamed);
    return;
  }
  // RFC 5322 2.1.1: the prefix must not push the line past 998 octets; fold after the colon
  // (the value keeps its bytes, a continuation line starts with white space).
  const std::size_t colon = renamed.find(':');
  const std::string_view value = std::string_view(renamed).substr(colon + 1);
  writer.line(std::string_view(renamed).substr(0, colon + 1));
  std::string continued = !value.empty() && is_wsp(value.front()) ? "" : " ";
  continued += value;
  writer.line(continued);
}

}  // namespace tlsrelay::proxy

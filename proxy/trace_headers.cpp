#include "proxy/trace_headers.hpp"

#include "tls/attempt_record.hpp"
#include "tls/text.hpp"

namespace tlsrelay::proxy {

namespace {

constexpr std::string_view kRelayField = "TLS-Relay";
constexpr std::string_view kFailureField = "TLS-Relay-Failure";

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// RFC 5322 3.6.8 (and the obsolete 4.5 form): 1*ftext, optional WSP, ":".
bool is_field(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] > 32 && line[i] < 127 && line[i] != ':') ++i;
  if (i == 0) return false;
  while (i < line.size() && is_wsp(line[i])) ++i;
  return i < line.size() && line[i] == ':';
}

std::string iso_seconds(std::chrono::system_clock::time_point t) {
  return tls::iso8601_millis(t).substr(0, 19) + "Z";
}

}  // namespace

bool starts_field(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || !tls::iequals(line.substr(0, name.size()), name)) {
    return false;
  }
  std::size_t i = name.size();
  while (i < line.size() && is_wsp(line[i])) ++i;
  return i < line.size() && line[i] == ':';
}

std::vector<std::string> trace_fields(const tls::AttemptFacts& f,
                                      const std::vector<FailedAttempt>& failures) {
  std::vector<std::string> fields;
  std::string relay = "upstream=" + f.upstream.name + "; host=" + f.upstream.host +
                      "; address=" + f.network.address +
                      "; tls=" + (f.tls.version.empty() ? "none" : f.tls.version);
  if (!f.tls.cipher.empty()) relay += "; cipher=" + f.tls.cipher;
  relay += std::string("; verify=") + (f.certificate.verified ? "ok" : "none") +
           "; attempts=" + std::to_string(failures.size() + 1);
  fields.push_back(format_header_field(kRelayField, relay));
  int attempt = 0;
  for (const auto& failed : failures) {
    ++attempt;
    fields.push_back(format_header_field(
        kFailureField,
        "attempt=" + std::to_string(attempt) + "; upstream=" + failed.facts.upstream.name +
            "; address=" +
            (failed.facts.network.address.empty() ? "-" : failed.facts.network.address) +
            "; class=" + std::string(tls::to_string(failed.verdict.cls)) +
            "; phase=" + std::string(tls::to_string(failed.verdict.phase)) +
            "; time=" + iso_seconds(failed.facts.started)));
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
  } else if (is_wsp(content.front())) {
    if (first) {
      // It would fold into our last field; it folds into nothing of the client's.
      writer.line("");
      in_headers_ = false;
    }
  } else if (!is_field(content)) {
    in_headers_ = false;
  } else if (starts_field(content, kRelayField) || starts_field(content, kFailureField)) {
    ++renamed_;
    std::string renamed(kRenamePrefix);
    renamed += content;
    writer.line(renamed);
    return;
  }
  writer.line(content);
}

}  // namespace tlsrelay::proxy

// REQUIRETLS (RFC 8689 4.1) and TLS-Required (RFC 8689 5) as the milter reads them.
#include <catch2/catch.hpp>

#include "milter/message_facts.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;

TEST_CASE("REQUIRETLS among the MAIL FROM parameters", "[milter][facts]") {
  using Params = std::vector<std::string>;
  auto [params, expected] = GENERATE(table<Params, bool>({
      {Params{}, false},
      {Params{"REQUIRETLS"}, true},
      {Params{"BODY=8BITMIME", "requiretls"}, true},
      {Params{"REQUIRETLS=yes"}, false},  // takes no value: not the keyword
      {Params{"XREQUIRETLS"}, false},
  }));
  CHECK(has_requiretls(params) == expected);
}

TEST_CASE("TLS-Required: only \"No\" has a meaning", "[milter][facts]") {
  auto [value, expected] = GENERATE(table<std::string, TlsRequiredField>({
      {"No", TlsRequiredField::No},
      {" no ", TlsRequiredField::No},
      {"NO (sent by the helpdesk tool)", TlsRequiredField::No},
      {"Yes", TlsRequiredField::Other},
      {"", TlsRequiredField::Other},
      {"Nope", TlsRequiredField::Other},
  }));
  CHECK(parse_tls_required(value) == expected);
}

TEST_CASE("the TLS-Required field never makes a message require TLS", "[milter][facts]") {
  for (auto field : {TlsRequiredField::Absent, TlsRequiredField::No, TlsRequiredField::Other}) {
    MessageFacts f;
    f.tls_required = field;
    CHECK_FALSE(requires_tls(f));
    f.requiretls = true;
    CHECK(requires_tls(f));  // RFC 8689 4.1: REQUIRETLS wins over "TLS-Required: No"
  }
}

// What `tlsrelay audit --mx` reads of a domain's published TLS policy: the MTA-STS TXT
// record and policy file (RFC 8461 3.1, 3.2, with the RFC's own examples), MX pattern
// matching (4.1), and the TLS-RPT TXT record (RFC 8460 3). Every malformed input names
// its problem; what RFC 8461 tells senders to tolerate (LF line ends, unknown fields, a
// repeated field) parses, with the deviation named.
#include <catch2/catch.hpp>

#include "proxy/cli/mta_sts.hpp"

using namespace tlsrelay::proxy;

namespace {

std::string sts_all_problems(const std::vector<std::string>& problems) {
  std::string s;
  for (const auto& p : problems) s += "[" + p + "] ";
  return s;
}

// True when one of `problems` says `what` (an empty `what`: when there is none).
bool sts_names_problem(const std::vector<std::string>& problems, const std::string& what) {
  if (what.empty()) return problems.empty();
  for (const auto& p : problems) {
    if (p.find(what) != std::string::npos) return true;
  }
  return false;
}

// RFC 8461 3.2's example policy, lines joined by `eol`.
std::string rfc8461_policy(const std::string& eol) {
  return "version: STSv1" + eol + "mode: enforce" + eol + "mx: mail.example.com" + eol +
         "mx: *.example.net" + eol + "mx: backupmx.example.com" + eol + "max_age: 604800" + eol;
}

}  // namespace

TEST_CASE("mta-sts: RFC 8461's TXT record example is a valid record", "[mta-sts]") {
  const StsRecord r = parse_sts_record("v=STSv1; id=20160831085700Z;");
  INFO(sts_all_problems(r.problems));
  CHECK(r.is_sts);
  CHECK(r.valid);
  CHECK(r.id == "20160831085700Z");
  CHECK(r.problems.empty());
}

TEST_CASE("mta-sts: TXT records, each with the problem it must name", "[mta-sts]") {
  // text, is_sts, valid, id, a problem that must be named ("" = none at all)
  auto [text, is_sts, valid, id, problem] =
      GENERATE(table<std::string, bool, bool, std::string, std::string>({
          {"v=STSv1;id=1", true, true, "1", ""},
          {"v=STSv1; id=abc ;\t", true, true, "abc", ""},
          {"v=STSv1; id=abc; ext=some-value", true, true, "abc", ""},  // extensions ignored
          {"v=STSv1; id=" + std::string(32, 'Z'), true, true, std::string(32, 'Z'), ""},
          // RFC 8461 3.2: a repeated field counts once, the first.
          {"v=STSv1; id=abc; id=def", true, true, "abc", "id appears more than once"},
          // The ABNF allows it; the "v=STSv1;" discard rule does not (erratum 6285).
          {"v=STSv1 ; id=abc", true, true, "abc", "whitespace between v=STSv1 and \";\""},
          {"v=STSv1; id=" + std::string(33, 'Z'), true, false, std::string(33, 'Z'),
           "is not 1-32 alphanumerics"},
          {"v=STSv1; id=2016-08-31", true, false, "2016-08-31", "is not 1-32 alphanumerics"},
          {"v=STSv1; id=", true, false, "", "is not 1-32 alphanumerics"},
          {"v=STSv1;", true, false, "", "id is missing"},
          {"v=STSv1", true, false, "", "id is missing"},
          {"v=STSv1; ID=abc", true, false, "", "keys are case-sensitive"},
          {"v=STSv1; id=abc; junk", true, false, "abc", "has no \"=\""},
          {"v=STSv1;; id=abc", true, false, "abc", "an empty field"},
          {"v=STSv1; id = abc", true, false, "abc", "whitespace around \"=\""},
          {"v=STSv1; id=abc; _x=1", true, false, "abc", "is not a valid extension name"},
          {"id=abc; v=STSv1", false, false, "", "v=STSv1 is not the first field"},
          {"V=stsv1; id=abc", false, false, "", "does not begin with exactly \"v=STSv1\""},
          {" v=STSv1; id=abc", false, false, "", "does not begin with exactly \"v=STSv1\""},
          {";v=STSv1; id=abc", false, false, "", "does not begin with exactly \"v=STSv1\""},
          // Not ours at all: nothing to say.
          {"v=STSv2; id=abc", false, false, "", ""},
          {"google-site-verification=abc", false, false, "", ""},
          {"", false, false, "", ""},
      }));
  INFO("record: " << text);
  const StsRecord r = parse_sts_record(text);
  INFO("problems: " << sts_all_problems(r.problems));
  CHECK(r.is_sts == is_sts);
  CHECK(r.valid == valid);
  CHECK(r.id == id);
  CHECK(sts_names_problem(r.problems, problem));
}

TEST_CASE("mta-sts: RFC 8461's policy example parses, with CRLF or LF line ends", "[mta-sts]") {
  const std::string eol = GENERATE(as<std::string>{}, "\r\n", "\n");
  const bool final_eol = GENERATE(true, false);
  std::string body = rfc8461_policy(eol);
  if (!final_eol) body.resize(body.size() - eol.size());
  INFO("line end " << (eol == "\n" ? "LF" : "CRLF") << (final_eol ? "" : ", none at the end"));
  const StsPolicy p = parse_sts_policy(body);
  INFO(sts_all_problems(p.problems));
  CHECK(p.valid);
  CHECK(p.problems.empty());
  REQUIRE(p.mode.has_value());
  CHECK(*p.mode == StsMode::Enforce);
  CHECK(p.mx ==
        std::vector<std::string>{"mail.example.com", "*.example.net", "backupmx.example.com"});
  REQUIRE(p.max_age.has_value());
  CHECK(*p.max_age == 604800);
}

TEST_CASE("mta-sts: policy files, each with the problem it must name", "[mta-sts]") {
  const std::string head = "version: STSv1\nmode: enforce\nmx: mx.example.com\n";
  // body, valid, a problem that must be named ("" = none at all)
  auto [body, valid, problem] = GENERATE_COPY(table<std::string, bool, std::string>({
      {head + "max_age: 86400\n", true, ""},
      {head + "max_age: 0\n", true, ""},
      {head + "max_age: 31557600\n", true, ""},
      {head + "max_age: 86400\nfuture_key: anything at all\n", true, ""},  // ignored
      {"version: STSv1  \nmode:\tenforce \t\nmx:   mx.example.com\nmax_age:86400\n", true, ""},
      {"version: STSv1\nmode: none\nmax_age: 86400\n", true, ""},  // no mx needed
      {"mode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false, "version is missing"},
      {"version: STSv2\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false,
       "version \"STSv2\" is not STSv1"},
      {"version: STSv1\nmx: mx.example.com\nmax_age: 86400\n", false, "mode is missing"},
      {"version: STSv1\nmode: Enforce\nmx: mx.example.com\nmax_age: 86400\n", false,
       "line 2: mode \"Enforce\" is not enforce, testing or none"},
      {"version: STSv1\nmode: strict\nmx: mx.example.com\nmax_age: 86400\n", false,
       "mode \"strict\" is not enforce, testing or none"},
      {"version: STSv1\nmode: enforce\nmax_age: 86400\n", false, "no mx line"},
      {"version: STSv1\nmode: testing\nmax_age: 86400\n", false, "no mx line"},
      {head, false, "max_age is missing"},
      {head + "max_age: 31557601\n", false, "line 4: max_age \"31557601\" is over 31557600"},
      {head + "max_age: 99999999999999999999999\n", false, "is over 31557600"},
      {head + "max_age: -1\n", false, "max_age \"-1\" is not a non-negative integer"},
      {head + "max_age: 1e6\n", false, "is not a non-negative integer"},
      {head + "max_age:\n", false, "is not a non-negative integer"},
      {"Version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n", false,
       "key \"Version\" is not \"version\""},
      // RFC 8461 3.2: a repeated field other than mx: the first counts, the rest are ignored.
      {head + "max_age: 86400\nmode: none\n", true, "line 5: mode appears more than once"},
      {head + "max_age: 86400\nversion: STSv2\n", true, "version appears more than once"},
      {head + "max_age: 86400\nmax_age: 1\n", true, "max_age appears more than once"},
      // Outside the grammar but unambiguous: read, and named.
      {head + "max_age: 86400\n\n", true, "line 5: blank line"},
      {head + "max_age: 86400\nthis line has no colon\n", true, "is not \"key: value\""},
      {head + "max_age : 86400\n", true, "whitespace around the key \"max_age\""},
      {head + "max_age: 86400\nmx: mx example.com\n", true,
       "mx \"mx example.com\" is not a host name"},
      {head + "max_age: 86400\nmx: *.*.example.com\n", true, "is not a host name"},
      {head + "max_age: 86400\nmx: mx.example.com.\n", true, "is not a host name"},
  }));
  INFO("policy:\n" << body);
  const StsPolicy p = parse_sts_policy(body);
  INFO("problems: " << sts_all_problems(p.problems));
  CHECK(p.valid == valid);
  CHECK(sts_names_problem(p.problems, problem));
}

TEST_CASE("mta-sts: a repeated field keeps its first value; mx repeats and is lower-cased",
          "[mta-sts]") {
  const StsPolicy p = parse_sts_policy(
      "version: STSv1\nmode: testing\nmode: enforce\nmx: MX1.Example.COM\nmx: *.Example.net\n"
      "max_age: 600\nmax_age: 900\n");
  INFO(sts_all_problems(p.problems));
  CHECK(p.valid);
  CHECK(p.mode == StsMode::Testing);
  CHECK(p.max_age == 600);
  CHECK(p.mx == std::vector<std::string>{"mx1.example.com", "*.example.net"});
  CHECK(p.problems.size() == 2);
}

TEST_CASE("mta-sts: an out-of-range max_age is kept for the report but not valid", "[mta-sts]") {
  const StsPolicy p =
      parse_sts_policy("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 31557601\n");
  CHECK_FALSE(p.valid);
  CHECK(p.max_age == 31557601);
  CHECK(p.mode == StsMode::Enforce);
}

TEST_CASE("mta-sts: modes read back as the policy spells them", "[mta-sts]") {
  CHECK(to_string(StsMode::Enforce) == "enforce");
  CHECK(to_string(StsMode::Testing) == "testing");
  CHECK(to_string(StsMode::None) == "none");
}

TEST_CASE("mta-sts: MX patterns match as RFC 8461 4.1 says", "[mta-sts]") {
  auto [pattern, host, matches] = GENERATE(table<std::string, std::string, bool>({
      {"mail.example.com", "mail.example.com", true},
      {"mail.example.com", "MAIL.Example.COM", true},  // case-insensitive
      {"MAIL.EXAMPLE.COM", "mail.example.com", true},
      {"mail.example.com", "mail.example.com.", true},  // the MX record's trailing dot
      {"mail.example.com", "other.example.com", false},
      {"mail.example.com", "mx.mail.example.com", false},
      {"example.net", "mx.example.net", false},  // no implicit subdomains
      {"*.example.net", "mx1.example.net", true},
      {"*.example.net", "MX1.EXAMPLE.NET.", true},
      {"*.EXAMPLE.net", "mx1.example.net", true},
      {"*.example.net", "a.b.example.net", false},  // exactly one label, not two
      {"*.example.net", "example.net", false},      // not the bare parent
      {"*.example.net", "example.net.", false},
      {"*.example.net", ".example.net", false},  // an empty label is no label
      {"*.example.net", "mx1.example.org", false},
      {"*.example.net", "mx1example.net", false},
      {"*.example.net", "mx1.badexample.net", false},
      {"*.", "a.", false},
      {"*.", "a", false},
      {"", "", false},
      {"mail.example.com", "", false},
      {"", "mail.example.com", false},
  }));
  INFO("pattern " << pattern << ", host " << host);
  CHECK(sts_mx_matches(pattern, host) == matches);
}

TEST_CASE("mta-sts: TLS-RPT records, each with the problem it must name", "[mta-sts][tlsrpt]") {
  // text, is_tlsrpt, valid, rua, a problem that must be named ("" = none at all)
  using Rua = std::vector<std::string>;
  auto [text, is_tlsrpt, valid, rua,
        problem] = GENERATE(table<std::string, bool, bool, Rua, std::string>({
      {"v=TLSRPTv1; rua=mailto:tlsrpt@example.com", true, true, Rua{"mailto:tlsrpt@example.com"},
       ""},
      {"v=TLSRPTv1;rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt", true,
       true, Rua{"mailto:reports@example.com", "https://reporting.example.com/v1/tlsrpt"}, ""},
      {"v=TLSRPTv1; rua=mailto:a@example.com , \thttps://r.example.com/x;", true, true,
       Rua{"mailto:a@example.com", "https://r.example.com/x"}, ""},
      {"v=TLSRPTv1; rua=MAILTO:a@example.com", true, true, Rua{"MAILTO:a@example.com"}, ""},
      {"v=TLSRPTv1; rua=mailto:a@example.com; future=1", true, true, Rua{"mailto:a@example.com"},
       ""},
      {"v=TLSRPTv1; rua=mailto:a@example.com,", true, true, Rua{"mailto:a@example.com"},
       "an empty URI in rua"},
      {"v=TLSRPTv1; rua=http://r.example.com/", true, false, Rua{"http://r.example.com/"},
       "rua URI \"http://r.example.com/\" is neither mailto: nor https:"},
      {"v=TLSRPTv1; rua=mailto:a@example.com,ftp://r.example.com/", true, false,
       Rua{"mailto:a@example.com", "ftp://r.example.com/"}, "is neither mailto: nor https:"},
      {"v=TLSRPTv1; rua=mailto:", true, false, Rua{"mailto:"}, "has no mail address"},
      {"v=TLSRPTv1; rua=https:/x", true, false, Rua{"https:/x"}, "has no host"},
      {"v=TLSRPTv1; rua=", true, false, Rua{}, "rua holds no URI"},
      {"v=TLSRPTv1", true, false, Rua{}, "rua is missing"},
      {"v=TLSRPTv1; RUA=mailto:a@example.com", true, false, Rua{}, "keys are case-sensitive"},
      {"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", true, true,
       Rua{"mailto:a@example.com"}, "rua appears more than once"},
      {"rua=mailto:a@example.com; v=TLSRPTv1", false, false, Rua{},
       "v=TLSRPTv1 is not the first field"},
      {"v=STSv1; id=abc", false, false, Rua{}, ""},
  }));
  INFO("record: " << text);
  const TlsRptRecord r = parse_tlsrpt_record(text);
  INFO("problems: " << sts_all_problems(r.problems));
  CHECK(r.is_tlsrpt == is_tlsrpt);
  CHECK(r.valid == valid);
  CHECK(r.rua == rua);
  CHECK(sts_names_problem(r.problems, problem));
}

TEST_CASE("mta-sts: remote text in a problem is escaped and cut", "[mta-sts]") {
  const StsPolicy p = parse_sts_policy("version: STSv1\nmode: \x1b[31m" + std::string(500, 'x') +
                                       "\nmx: mx.example.com\nmax_age: 1\n");
  REQUIRE_FALSE(p.problems.empty());
  for (const auto& line : p.problems) {
    INFO(line);
    CHECK(line.size() < 200);
    CHECK(line.find('\x1b') == std::string::npos);
  }
}

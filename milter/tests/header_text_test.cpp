// Header fields and reply texts the milter writes stay RFC 5322-safe whatever the input.
#include <algorithm>
#include <catch2/catch.hpp>

#include "milter/header_text.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;

TEST_CASE("printable turns controls into spaces and 8-bit bytes into '?'", "[milter][header]") {
  auto [in, max, out] = GENERATE(table<std::string, std::size_t, std::string>({
      {"plain text", 100, "plain text"},
      {"a\r\nb", 100, "a b"},
      {std::string("a\0b", 3), 100, "a b"},
      {"  lead and trail  ", 100, "lead and trail"},
      {"a \t\t b", 100, "a b"},
      {"caf\xc3\xa9", 100, "caf??"},
      {"\x7f", 100, ""},
      {"abcdefgh", 4, "abcd..."},
      {"abcd", 4, "abcd"},
  }));
  CHECK(printable(in, max) == out);
}

TEST_CASE("param_value quotes what is not a token", "[milter][header]") {
  auto [in, out] = GENERATE(table<std::string, std::string>({
      {"certificate-expired", "certificate-expired"},
      {"2026-11-29T09:58:00Z", "2026-11-29T09:58:00Z"},
      {"two words", "\"two words\""},
      {"semi;colon", "\"semi;colon\""},
      {"say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\""},
      {"", "\"\""},
  }));
  CHECK(param_value(in) == out);
}

namespace {

std::vector<std::string> lines_of(const std::string& folded) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    auto nl = folded.find('\n', start);
    lines.push_back(folded.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("a long value folds before spaces, under 78 where it can, and unfolds back",
          "[milter][header]") {
  std::string value;
  for (int i = 0; i < 40; ++i) value += (i ? " " : "") + std::string("word") + std::to_string(i);
  const std::string folded = fold_header_value("TLS-Relay-Route", value);
  const auto lines = lines_of(folded);
  REQUIRE(lines.size() > 1);
  CHECK(std::string("TLS-Relay-Route: ").size() + lines[0].size() <= kFoldAt);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    INFO(lines[i]);
    CHECK(lines[i].size() <= kFoldAt);
    CHECK(lines[i].front() == ' ');  // a continuation line starts with white space
  }
  std::string unfolded = folded;
  unfolded.erase(std::remove(unfolded.begin(), unfolded.end(), '\n'), unfolded.end());
  CHECK(unfolded == value);
  CHECK(folded.find('\r') == std::string::npos);
}

TEST_CASE("a word longer than a line is cut under 998; CR/LF in the input never survive",
          "[milter][header]") {
  const std::string value = "x=" + std::string(1500, 'a') + "\r\nInjected: yes";
  const std::string folded = fold_header_value("TLS-Relay-Route", value);
  const auto lines = lines_of(folded);
  REQUIRE(lines.size() > 1);
  CHECK(std::string("TLS-Relay-Route: ").size() + lines[0].size() < kMaxLine);
  for (const auto& line : lines) CHECK(line.size() < kMaxLine);
  // The only line breaks are the folds, each followed by white space.
  for (std::size_t i = folded.find('\n'); i != std::string::npos; i = folded.find('\n', i + 1)) {
    REQUIRE(i + 1 < folded.size());
    CHECK(folded[i + 1] == ' ');
  }
  CHECK(folded.find("\nInjected") == std::string::npos);
  CHECK(folded.find('\r') == std::string::npos);
}

TEST_CASE("a huge value is cut to kMaxValue", "[milter][header]") {
  const std::string folded = fold_header_value("X", std::string(10000, 'a'));
  std::string joined = folded;
  joined.erase(std::remove(joined.begin(), joined.end(), '\n'), joined.end());
  joined.erase(std::remove(joined.begin(), joined.end(), ' '), joined.end());
  CHECK(joined.size() == kMaxValue + 3);
}

TEST_CASE("reply texts double '%' and carry no line break", "[milter][header]") {
  CHECK(reply_text("100% sure\r\nno") == "100%% sure no");
  CHECK(reply_text(std::string(1000, 'a'), 10) == "aaaaaaaaaa...");
}

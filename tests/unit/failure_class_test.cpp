// The failure table in code agrees with ../shared/spec/failure-classes.md, the contract:
// same ids, groups, TLS-RPT result types, transience and fault, nothing missing or extra.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/failure_class.hpp"

using namespace tlsrelay;

namespace {

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  std::string cell;
  std::getline(s, cell, '|');  // before the first bar
  while (std::getline(s, cell, '|')) {
    auto b = cell.find_first_not_of(" `");
    auto e = cell.find_last_not_of(" `");
    out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

TEST_CASE("class ids are unique and round-trip", "[failure-class]") {
  std::set<std::string_view> names;
  for (const ClassInfo* c = all_classes_begin(); c != all_classes_end(); ++c) {
    CHECK(names.insert(c->name).second);
    CHECK(class_from_string(c->name) == c->id);
  }
  CHECK(is_group_name("certificate"));
  CHECK(is_group_name("network"));
  CHECK_FALSE(is_group_name("certificates"));
  CHECK_FALSE(class_from_string("certificate_expired").has_value());
}

TEST_CASE("the table matches failure-classes.md", "[failure-class][contract]") {
  std::ifstream in(std::string(TLSRELAY_SHARED_SPEC) + "/failure-classes.md");
  if (!in) {
    WARN("../shared/spec/failure-classes.md not found beside the checkout; contract not checked");
    return;
  }
  std::map<std::string, std::vector<std::string>> spec;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    auto c = cells(line);
    if (c.size() >= 6) spec[c[0]] = c;
  }
  REQUIRE(spec.size() >= 30);
  std::size_t ours = 0;
  for (const ClassInfo* c = all_classes_begin(); c != all_classes_end(); ++c, ++ours) {
    INFO("class " << c->name);
    REQUIRE(spec.count(std::string(c->name)) == 1);
    const auto& row = spec[std::string(c->name)];
    auto dash = [](std::string_view v) { return v.empty() ? std::string("-") : std::string(v); };
    CHECK(row[1] == dash(to_string(c->group)));
    CHECK(row[3] == dash(c->rfc8460));
    CHECK(row[5] == dash(to_string(c->fault)));
    const std::string& t = row[4];
    switch (c->transience) {
      case Transience::Always:
        CHECK(t == "yes");
        break;
      case Transience::Never:
        CHECK((t == "no" || t == "-"));
        break;
      case Transience::ByReply:
        CHECK(t.find("4xx: yes") != std::string::npos);
        break;
    }
  }
  CHECK(ours == spec.size());
}

// docs/failures.md, the runbook, covers exactly the failure table the classifier uses: one
// `## <class-id>` section per class, in table order, none for a class that does not exist,
// each with its four parts and a metadata line that agrees with the table and with the
// reply code the relay sends. The anchor of `## certificate-expired` is #certificate-expired,
// which is where an attempt record's class sends the admin.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/failure_class.hpp"
#include "proxy/policy/replies.hpp"

using namespace tlsrelay;

namespace {

struct Section {
  std::string id;
  std::size_t line = 0;
  std::string body;
};

// A `## ` heading that is one lower-case token (letters, digits, '-') claims to be a class
// section; headings with spaces or capitals ("## How to read a section") are prose.
bool is_class_heading(const std::string& title) {
  if (title.empty()) return false;
  for (char c : title) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::vector<Section> read_sections(std::istream& in) {
  std::vector<Section> out;
  std::string line;
  std::size_t n = 0;
  bool in_fence = false;
  Section* current = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("```", 0) == 0) in_fence = !in_fence;
    if (!in_fence && line.rfind("## ", 0) == 0) {
      std::string title = line.substr(3);
      while (!title.empty() && title.back() == ' ') title.pop_back();
      if (is_class_heading(title)) {
        out.push_back({title, n, {}});
        current = &out.back();
      } else {
        current = nullptr;
      }
      continue;
    }
    if (current) current->body += line + "\n";
  }
  return out;
}

std::string dash(std::string_view v) {
  return v.empty() ? std::string("-") : std::string(v);
}

std::string transience_text(const ClassInfo& c) {
  if (c.id == FailureClass::Ok) return "-";
  switch (c.transience) {
    case Transience::Always:
      return "yes";
    case Transience::Never:
      return "no";
    case Transience::ByReply:
      return "4xx: yes, 5xx: no";
  }
  return "?";
}

// "Group: certificate · Fault: remote · ..." -> {Group: certificate, Fault: remote, ...}
std::map<std::string, std::string> metadata(const std::string& body) {
  std::map<std::string, std::string> out;
  std::istringstream s(body);
  std::string line;
  while (std::getline(s, line)) {
    if (line.rfind("Group: ", 0) != 0) continue;
    const std::string sep = " · ";
    std::size_t start = 0;
    while (start <= line.size()) {
      std::size_t end = line.find(sep, start);
      std::string field = line.substr(start, end == std::string::npos ? end : end - start);
      auto colon = field.find(": ");
      if (colon != std::string::npos) out[field.substr(0, colon)] = field.substr(colon + 2);
      if (end == std::string::npos) break;
      start = end + sep.size();
    }
    break;
  }
  return out;
}

std::ifstream open_runbook() {
  return std::ifstream(std::string(TLSRELAY_SOURCE_DIR) + "/docs/failures.md");
}

}  // namespace

TEST_CASE("every failure class has exactly one runbook section, in table order",
          "[runbook][failure-class]") {
  auto in = open_runbook();
  REQUIRE(in.good());  // docs/failures.md is part of the tree
  const auto sections = read_sections(in);

  std::map<std::string, int> seen;
  for (const auto& s : sections) {
    INFO("docs/failures.md:" << s.line << ": ## " << s.id);
    CHECK(class_from_string(s.id).has_value());  // a section for a class that does not exist
    CHECK(++seen[s.id] == 1);                    // the anchor must be unique
  }
  std::vector<std::string> expected;
  for (const ClassInfo* c = all_classes_begin(); c != all_classes_end(); ++c) {
    INFO("class " << c->name << " has no '## " << c->name << "' section in docs/failures.md");
    CHECK(seen.count(std::string(c->name)) == 1);
    expected.emplace_back(c->name);
  }
  std::vector<std::string> order;
  for (const auto& s : sections) {
    if (class_from_string(s.id)) order.push_back(s.id);
  }
  CHECK(order == expected);
}

TEST_CASE("each runbook section has its four parts and agrees with the table",
          "[runbook][failure-class]") {
  auto in = open_runbook();
  REQUIRE(in.good());
  std::map<std::string, Section> by_id;
  for (auto& s : read_sections(in)) by_id[s.id] = s;

  for (const ClassInfo* c = all_classes_begin(); c != all_classes_end(); ++c) {
    auto it = by_id.find(std::string(c->name));
    if (it == by_id.end()) continue;  // reported by the coverage test
    const Section& s = it->second;
    INFO("docs/failures.md:" << s.line << ": ## " << s.id);
    for (const char* part : {"**Without tlsrelay**", "**tlsrelay reports**", "**Likely causes**",
                             "**Checks and fixes**"}) {
      INFO("missing part " << part);
      CHECK(s.body.find(std::string("\n") + part + "\n") != std::string::npos);
    }
    // The reported class is named in its own section (the admin greps for it).
    if (c->id != FailureClass::Ok) {
      CHECK(s.body.find("Class `" + std::string(c->name) + "`") != std::string::npos);
    }

    const auto meta = metadata(s.body);
    REQUIRE(meta.count("Group") == 1);
    CHECK(meta.at("Group") == dash(to_string(c->group)));
    REQUIRE(meta.count("Fault") == 1);
    CHECK(meta.at("Fault") == dash(to_string(c->fault)));
    REQUIRE(meta.count("TLS-RPT") == 1);
    CHECK(meta.at("TLS-RPT") == dash(c->rfc8460));
    REQUIRE(meta.count("Transient") == 1);
    CHECK(meta.at("Transient") == transience_text(*c));
    REQUIRE(meta.count("Reply") == 1);
    if (c->id == FailureClass::Ok) {
      CHECK(meta.at("Reply") == "none");
    } else {
      // The deferral the local MTA sees: the same code proxy/policy/policy.cpp sends.
      const std::string reply = "451 " + tlsrelay::proxy::deferral_enhanced_code(c->id);
      CHECK(meta.at("Reply") == reply);
      CHECK(s.body.find(reply + " tlsrelay: ") != std::string::npos);
    }
  }
}

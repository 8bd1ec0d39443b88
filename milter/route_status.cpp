#include "milter/route_status.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "milter/header_text.hpp"

namespace tlsrelay::milter {

std::string_view to_string(RouteState s) {
  switch (s) {
    case RouteState::Unknown:
      return "unknown";
    case RouteState::Healthy:
      return "healthy";
    case RouteState::Degraded:
      return "degraded";
    case RouteState::Failing:
      return "failing";
  }
  return "unknown";
}

namespace {

using nlohmann::json;

bool all_of_chars(std::string_view s, std::size_t max, bool (*ok)(char)) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), ok);
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}
bool class_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}
bool time_char(char c) {
  return (c >= '0' && c <= '9') || c == 'T' || c == 'Z' || c == 't' || c == 'z' || c == ':' ||
         c == '.' || c == '-' || c == '+';
}

// A string-or-null member. Returns false (and sets `problem`) on a wrong type.
bool optional_string(const json& route, const char* key, std::optional<std::string>& out,
                     std::string& problem) {
  auto it = route.find(key);
  if (it == route.end() || it->is_null()) return true;
  if (!it->is_string()) {
    problem = std::string("route.") + key + " is not a string or null";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

StatusReading fail(std::string problem) {
  return StatusReading{std::nullopt, std::move(problem)};
}

}  // namespace

StatusReading parse_status_document(std::string_view body) {
  if (body.size() > kMaxStatusBody) return fail("the status document is too large");
  // No exceptions: a malformed document is an expected event, not an error path.
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("the status document is not JSON");
  if (!doc.is_object()) return fail("the status document is not a JSON object");
  auto r = doc.find("route");
  if (r == doc.end() || !r->is_object()) return fail("the status document has no route object");
  const json& route = *r;

  RouteStatus st;
  auto state = route.find("state");
  if (state == route.end() || !state->is_string()) return fail("route.state is not a string");
  const std::string& s = state->get_ref<const std::string&>();
  if (s == "healthy") {
    st.state = RouteState::Healthy;
  } else if (s == "degraded") {
    st.state = RouteState::Degraded;
  } else if (s == "failing") {
    st.state = RouteState::Failing;
  } else if (s == "unknown") {
    st.state = RouteState::Unknown;
  } else {
    return fail("route.state " + param_value(printable(s, 40)) + " is not a known state");
  }

  std::string problem;
  std::optional<std::string> upstream;
  if (!optional_string(route, "upstream", upstream, problem)) return fail(problem);
  if (upstream) {
    if (!all_of_chars(*upstream, 64, name_char)) {
      return fail("route.upstream is not an upstream name");
    }
    st.upstream = *upstream;
  }
  if (!optional_string(route, "class", st.failure_class, problem)) return fail(problem);
  if (st.failure_class && !all_of_chars(*st.failure_class, 64, class_char)) {
    return fail("route.class is not a failure class id");
  }
  if (!optional_string(route, "since", st.since, problem)) return fail(problem);
  if (st.since && !all_of_chars(*st.since, 40, time_char)) {
    return fail("route.since is not an RFC 3339 time");
  }
  std::optional<std::string> hint;
  if (!optional_string(route, "hint", hint, problem)) return fail(problem);
  if (hint) {
    st.hint = printable(*hint, kMaxHint);
    if (st.hint->empty()) st.hint.reset();
  }
  auto verified = route.find("verified_tls");
  if (verified != route.end() && !verified->is_null()) {
    if (!verified->is_boolean()) return fail("route.verified_tls is not a boolean or null");
    st.verified_tls = verified->get<bool>();
  }
  return StatusReading{std::move(st), ""};
}

}  // namespace tlsrelay::milter

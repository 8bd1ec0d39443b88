#include "proxy/status/report.hpp"

#include "common/time_format.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace tlsrelay::proxy {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using TimePoint = std::chrono::system_clock::time_point;

std::string text_or(const json& j, const char* key, const std::string& fallback = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

}  // namespace

std::int64_t parse_rfc3339(const std::string& text) {
  std::tm tm{};
  int fields = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
  if (fields != 6 || text.size() < 20 || text.back() != 'Z') return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

namespace {

struct Timed {
  std::int64_t seconds;
  std::string time;  // as written: the fraction orders records within one second
  json record;
};

// One route's incidents as the records come, oldest first (the rule of route_health.hpp).
struct IncidentTracker {
  RouteIncidents out;
  std::vector<IncidentSpan> spans;  // every incident in the window, for the verdict
  ReportIncident current;
  bool success_since = true;  // no failure yet, or a success since the last one
};

TimePoint at_seconds(std::int64_t s) {
  return TimePoint(std::chrono::seconds(s));
}

}  // namespace

LogSummary summarize(const std::vector<std::string>& lines, const ReportWindow& window,
                     const RecurrenceRule& rule) {
  LogSummary s;
  s.window = window;
  s.rule = rule;
  std::vector<Timed> records;
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    json r = json::parse(line, nullptr, false);
    if (r.is_discarded() || !r.is_object() || !r.contains("class") || !r.contains("time")) {
      ++s.unreadable;
      continue;
    }
    std::string time = text_or(r, "time");
    const std::int64_t t = parse_rfc3339(time);
    if (t < 0) {
      ++s.unreadable;
      continue;
    }
    if (t < window.from || t >= window.to) continue;
    records.push_back({t, std::move(time), std::move(r)});
  }
  // Several logs (instances, rotated files) are one story told in time order.
  std::stable_sort(records.begin(), records.end(), [](const Timed& a, const Timed& b) {
    return a.seconds != b.seconds ? a.seconds < b.seconds : a.time < b.time;
  });

  std::map<std::string, UpstreamReport> by_name;
  std::vector<std::string> order;
  std::map<std::pair<std::string, std::string>, IncidentTracker> trackers;
  std::vector<std::pair<std::string, std::string>> route_order;
  for (Timed& timed : records) {
    json& r = timed.record;
    ++s.records;
    const json upstream = r.value("upstream", json::object());
    const std::string name = upstream.is_object() ? text_or(upstream, "name", "-") : "-";
    auto [it, fresh] = by_name.try_emplace(name);
    if (fresh) order.push_back(name);
    UpstreamReport& u = it->second;
    u.name = name;
    if (upstream.is_object()) u.host = text_or(upstream, "host", u.host);
    ++u.attempts;
    const std::string cls = text_or(r, "class", "?");
    const std::string address = upstream.is_object() ? text_or(upstream, "address") : "";
    const auto route = std::make_pair(name, address);
    if (cls == "ok") {
      ++u.ok;
      if (auto tr = trackers.find(route); tr != trackers.end()) tr->second.success_since = true;
    } else {
      auto c = std::find_if(u.failures.begin(), u.failures.end(),
                            [&](const ClassCount& x) { return x.cls == cls; });
      if (c == u.failures.end()) {
        u.failures.push_back({cls, text_or(r, "group"), 0, "", ""});
        c = u.failures.end() - 1;
      }
      ++c->count;
      c->last_time = text_or(r, "time");
      c->last_hint = text_or(r, "hint");

      auto [tr, new_route] = trackers.try_emplace(route);
      IncidentTracker& k = tr->second;
      if (new_route) {
        route_order.push_back(route);
        k.out.upstream = name;
        k.out.address = address;
      }
      k.out.host = u.host;
      const bool continues =
          !k.success_since && k.current.cls == cls &&
          continues_incident(rule, at_seconds(k.current.last), at_seconds(timed.seconds));
      if (continues) {
        k.current.last = timed.seconds;
        ++k.current.failures;
        k.spans.back().last = at_seconds(timed.seconds);
        k.out.latest.back() = k.current;
      } else {
        k.current = {cls, timed.seconds, timed.seconds, 1};
        k.spans.push_back({at_seconds(timed.seconds), at_seconds(timed.seconds)});
        k.out.latest.push_back(k.current);
        if (k.out.latest.size() > kShownIncidents) k.out.latest.erase(k.out.latest.begin());
        ++k.out.count;
        ++s.incidents_by_class[{u.host, address, cls}];
      }
      k.success_since = false;
    }
    s.in_window.push_back(std::move(r));
  }
  for (const std::string& name : order) {
    UpstreamReport u = std::move(by_name[name]);
    std::stable_sort(u.failures.begin(), u.failures.end(),
                     [](const ClassCount& a, const ClassCount& b) { return a.count > b.count; });
    s.upstreams.push_back(std::move(u));
  }
  for (const auto& route : route_order) {
    IncidentTracker& k = trackers[route];
    k.out.recurrence = judge(rule, k.spans, at_seconds(window.to));
    s.routes.push_back(std::move(k.out));
  }
  return s;
}

std::string summary_text(const LogSummary& s) {
  std::string out = "tlsrelay report " + iso8601_seconds(s.window.from) + " .. " +
                    iso8601_seconds(s.window.to) + ": " + std::to_string(s.records) + " attempts";
  if (s.unreadable > 0) out += " (" + std::to_string(s.unreadable) + " unreadable lines skipped)";
  out += "\n";
  if (s.upstreams.empty()) out += "\nno attempts in this window\n";
  for (const UpstreamReport& u : s.upstreams) {
    char pct[16];
    std::snprintf(
        pct, sizeof pct, "%.0f%%",
        u.attempts ? 100.0 * static_cast<double>(u.ok) / static_cast<double>(u.attempts) : 0.0);
    out += "\n" + u.name + (u.host.empty() ? "" : " (" + u.host + ")") + ": " +
           std::to_string(u.attempts) + " attempts, " + std::to_string(u.ok) + " ok (" + pct +
           ")\n";
    std::size_t shown = 0;
    for (const ClassCount& c : u.failures) {
      if (++shown > 5) {
        out += "  ... and " + std::to_string(u.failures.size() - 5) + " more classes\n";
        break;
      }
      char line[160];
      std::snprintf(line, sizeof line, "  %6llu  %-32s last %s\n",
                    static_cast<unsigned long long>(c.count), c.cls.c_str(), c.last_time.c_str());
      out += line;
      if (!c.last_hint.empty()) out += "          " + c.last_hint + "\n";
    }
    for (const RouteIncidents& r : s.routes) {
      if (r.upstream != u.name) continue;
      out += "  incidents at " +
             (r.address.empty() ? std::string("(no address: DNS)") : r.address) + ": " +
             std::to_string(r.count) + ", " +
             (r.recurrence ? std::string(to_string(*r.recurrence)) : std::string("none")) +
             " by the end of the window\n";
      if (r.count > r.latest.size())
        out += "    (the last " + std::to_string(r.latest.size()) + ")\n";
      for (const ReportIncident& i : r.latest) {
        char line[200];
        std::snprintf(line, sizeof line, "    %-32s %s .. %s, %llu %s\n", i.cls.c_str(),
                      iso8601_seconds(i.first).c_str(), iso8601_seconds(i.last).c_str(),
                      static_cast<unsigned long long>(i.failures),
                      i.failures == 1 ? "failure" : "failures");
        out += line;
      }
    }
  }
  return out;
}

ordered_json tlsrpt_report(const LogSummary& s, const TlsRptOptions& o) {
  struct Detail {
    std::string result_type, sending_ip, mx, receiving_ip, info;
    std::uint64_t count = 0;
  };
  struct Policy {
    std::uint64_t ok = 0, failed = 0;
    std::vector<Detail> details;
  };
  std::map<std::string, Policy> policies;  // by upstream host
  for (const json& r : s.in_window) {
    const json up = r.value("upstream", json::object());
    const std::string host = up.is_object() ? text_or(up, "host") : "";
    if (host.empty()) continue;
    const json tls = r.value("tls", json::object());
    const bool reached_tls =
        tls.is_object() && tls.contains("version") && tls["version"].is_string();
    const std::string cls = text_or(r, "class");
    const std::string result_type = text_or(r, "rfc8460");
    Policy& p = policies[host];
    if (cls == "ok" && reached_tls) {
      ++p.ok;
    } else if (!result_type.empty()) {
      ++p.failed;
      const json net = r.value("network", json::object());
      Detail d{result_type, net.is_object() ? text_or(net, "local_address") : "",
               host,        up.is_object() ? text_or(up, "address") : "",
               cls,         0};
      auto it = std::find_if(p.details.begin(), p.details.end(), [&](const Detail& x) {
        return x.result_type == d.result_type && x.sending_ip == d.sending_ip &&
               x.receiving_ip == d.receiving_ip && x.info == d.info;
      });
      if (it == p.details.end()) {
        p.details.push_back(d);
        it = p.details.end() - 1;
      }
      ++it->count;
    }
  }
  ordered_json report;
  report["organization-name"] = o.organization;
  report["date-range"] = {{"start-datetime", iso8601_seconds(s.window.from)},
                          {"end-datetime", iso8601_seconds(s.window.to - 1)}};
  report["contact-info"] = o.contact;
  report["report-id"] = o.report_id;
  ordered_json list = ordered_json::array();
  for (const auto& [host, p] : policies) {
    ordered_json pj;
    pj["policy"] = {{"policy-type", "no-policy-found"}, {"policy-domain", host}};
    pj["summary"] = {{"total-successful-session-count", p.ok},
                     {"total-failure-session-count", p.failed}};
    ordered_json details = ordered_json::array();
    for (const Detail& d : p.details) {
      ordered_json dj;
      dj["result-type"] = d.result_type;
      if (!d.sending_ip.empty()) dj["sending-mta-ip"] = d.sending_ip;
      dj["receiving-mx-hostname"] = d.mx;
      if (!d.receiving_ip.empty()) dj["receiving-ip"] = d.receiving_ip;
      dj["failed-session-count"] = d.count;
      // RFC 8460 4.4: a URI with more about the failure: the runbook section of our class.
      dj["additional-information"] = o.info_uri + "#" + d.info;
      dj["failure-reason-code"] = d.info;  // our class id says precisely what failed
      // Extensions (docs/relay.md "tlsrelay report"): the incidents these sessions made on
      // the route, and its verdict by the relay's rule. Readers ignore fields they do not
      // know.
      if (auto it = s.incidents_by_class.find({host, d.receiving_ip, d.info});
          it != s.incidents_by_class.end()) {
        dj["x-tlsrelay-incidents"] = it->second;
      }
      for (const RouteIncidents& r : s.routes) {
        if (r.host == host && r.address == d.receiving_ip && r.recurrence) {
          dj["x-tlsrelay-recurrence"] = std::string(to_string(*r.recurrence));
          break;
        }
      }
      details.push_back(std::move(dj));
    }
    if (!details.empty()) pj["failure-details"] = std::move(details);
    list.push_back(std::move(pj));
  }
  report["policies"] = std::move(list);
  return report;
}

}  // namespace tlsrelay::proxy

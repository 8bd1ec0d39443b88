// The two-instance rig test (issue 22): a real Postfix with two `tlsrelay serve` instances
// behind one relayhost list ("[127.0.0.2]:P1, [127.0.0.3]:P2"), both relaying through
// tlsrelay-faultinject with the soak's fault mix to the real Postfix smarthost. Instance A is
// SIGKILLed in the middle of deliveries and started again; every message is then accounted for
// at the smarthost (delivered once, or more often only where the log says why), every 250 that
// Postfix got from an instance is matched by a copy that came through that instance, both
// instances relayed mail, and each instance's /metrics, scraped over HTTP as Prometheus would,
// agrees with what Postfix logged.
//
// A relayhost list is an ordered list (Postfix 3.5+, RELEASE_NOTES-3.5: "These destinations
// will be tried in the specified order"): A first, B only when A fails (connection refused, a
// session lost, or a 4xx). So B relays what fails over; it is not load balancing.
//
// N: TLSRELAY_FLEET_N (default 90). Root only; main() (in soak_test.cpp) exits 77 otherwise.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "integration/rig.hpp"
#include "tests/e2e/fixture.hpp"

using namespace tlsrelay::integration;

namespace {

std::size_t fleet_n() {
  const char* v = std::getenv("TLSRELAY_FLEET_N");
  return v ? std::strtoul(v, nullptr, 10) : 90;
}

// The sum of a metric's series whose labels include `label` (Prometheus's sum(NAME{LABEL})),
// from a text exposition; 0 when there is none.
double sum_of(const std::string& metrics, const std::string& name, const std::string& label) {
  double sum = 0;
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.rfind(' ');
    if (line.rfind(name + "{", 0) == 0 && space != std::string::npos && line.find(label) < space) {
      sum += std::strtod(line.c_str() + space + 1, nullptr);
    }
  }
  return sum;
}

// A counter as Prometheus's increase() sees it across scrapes: a value lower than the last
// one is a restart (the daemon's counters start at 0 again), not a decrease.
struct Counter {
  double last = 0;
  double increase = 0;
  void observe(double v) {
    increase += v < last ? v : v - last;
    last = v;
  }
  // A failed scrape (the daemon is down): whatever it shows next counts from 0, even when a
  // restarted daemon has already counted past the last value seen before it died.
  void down() { last = 0; }
};

// A transaction whose upstream was lost is counted under upstream="-": sum over upstreams.
const std::string kTransactions = "tlsrelay_transactions_total";

}  // namespace

TEST_CASE("fleet: two tlsrelay instances behind one relayhost list, one SIGKILLed, nothing lost",
          "[fleet]") {
  const std::size_t n = fleet_n();
  REQUIRE(n >= 30);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string run_tag = "fleet" + std::to_string(getpid());
  Smarthost smarthost(tlsrelay::e2e::cert_dir());
  Injector injector(smarthost.port(), kSoakPlan, 20261207);
  // As in the soak: the built-in policy with short phases, and no reuse, so that every
  // message opens its own upstream connection and meets the fault mix.
  const std::string policy = "[policy]\ndeadline_s = 15\nbackoff_s = [0.2]\n";
  Relay a(injector.port(), tlsrelay::e2e::cert("ca.pem"), policy, /*reuse=*/false,
          {"127.0.0.2", "relay-a.test", true});
  Relay b(injector.port(), tlsrelay::e2e::cert("ca.pem"), policy, /*reuse=*/false,
          {"127.0.0.3", "relay-b.test", true});
  FrontPostfix postfix(a.nexthop() + ", " + b.nexthop());

  // Prometheus's part: scrape both, keep each counter's increase across A's restart.
  Counter a_delivered, b_delivered, a_deferred, b_deferred;
  std::size_t scrapes = 0;
  auto scrape = [&] {
    for (auto [relay, delivered, deferred] :
         {std::tuple{&a, &a_delivered, &a_deferred}, std::tuple{&b, &b_delivered, &b_deferred}}) {
      const std::string m = relay->metrics();
      if (m.empty()) {  // down (A while killed): Prometheus's up == 0
        delivered->down();
        deferred->down();
        continue;
      }
      ++scrapes;
      delivered->observe(sum_of(m, kTransactions, R"(outcome="delivered")"));
      deferred->observe(sum_of(m, kTransactions, R"(outcome="deferred")"));
    }
  };
  REQUIRE(wait_until([&] { return !a.metrics().empty() && !b.metrics().empty(); },
                     std::chrono::seconds(10)));

  std::ostringstream phases;  // seconds since the start at each step, for the report
  auto mark = [&](const char* what) {
    phases << " " << what << "@"
           << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  mark("rig-up");
  std::vector<std::string> ids;
  auto submit = [&](std::size_t from, std::size_t to) {
    Submitter s(postfix.port());
    for (std::size_t i = from; i < to; ++i) {
      const std::string id = run_tag + "-" + std::to_string(i);
      // Every 10th message spans several TLS records, so mid-DATA is really mid-data.
      const std::size_t size = i % 10 == 0 ? 40000 : 600 + (i * 37) % 1500;
      INFO("submitting " << id);
      REQUIRE(s.send(id, size, "sink@example.org"));
      ids.push_back(id);
    }
  };
  auto delivered_now = [&] { return smarthost.delivered("X-Soak-Id").size(); };
  auto tail = [](const std::string& s) { return s.substr(s.size() > 4000 ? s.size() - 4000 : 0); };
  auto diag = [&] {
    return "delivered " + std::to_string(delivered_now()) + "\nfront Postfix log (tail):\n" +
           tail(postfix.maillog()) + "\ntlsrelay A log (tail):\n" + tail(a.log()) +
           "\ntlsrelay B log (tail):\n" + tail(b.log()) + "\ninjector log (tail):\n" +
           tail(injector.log());
  };

  // 1: half the messages; A, first in the list, carries them (B only what fails over).
  submit(0, n / 2);
  if (!wait_until(
          [&] {
            scrape();
            return delivered_now() >= n / 6 && a_delivered.increase > 0;
          },
          std::chrono::seconds(30))) {
    FAIL("deliveries through A did not start\n" << diag());
  }

  // 2: A is killed in the middle of deliveries; Postfix moves on to B in the same delivery
  // attempt (A's connection refused), and mail submitted meanwhile goes to B.
  scrape();
  const double b_before = b_delivered.increase;
  mark("kill");
  a.kill9();
  const std::string a_refused =
      a.address() + "[" + a.address() + "]:" + std::to_string(a.port()) + ": Connection refused";
  submit(n / 2, 3 * n / 4);
  const bool failed_over = wait_until(
      [&] {
        scrape();
        return postfix.maillog().find(a_refused) != std::string::npos &&
               b_delivered.increase >= b_before + static_cast<double>(n / 10);
      },
      std::chrono::seconds(30));
  CHECK(failed_over);

  // 3: A is back; the rest of the messages, and whatever is still queued, go to A again.
  const double a_before_restart = a_delivered.increase;
  mark("restart");
  a.restart();
  submit(3 * n / 4, n);
  const bool a_back = wait_until(
      [&] {
        scrape();
        return a_delivered.increase > a_before_restart;
      },
      std::chrono::seconds(30));
  CHECK(a_back);

  // Faults off; Postfix flushes until its queue is empty, then the smarthost's.
  const auto fired = injector.fired();
  std::ostringstream fired_text;
  int fired_total = 0;
  for (const auto& [p, c] : fired) {
    fired_text << " " << p << "=" << c;
    fired_total += c;
  }
  mark("faults-off");
  REQUIRE(injector.ctl("off").rfind("ok", 0) == 0);
  postfix.flush();
  const bool drained = wait_until(
      [&] {
        scrape();
        if (postfix.queue_empty()) return true;
        postfix.flush();
        return false;
      },
      std::chrono::seconds(60));
  if (!drained)
    FAIL("Postfix's queue did not drain\n" << postfix.queue().substr(0, 4000) << diag());
  mark("drained");
  REQUIRE(wait_until([&] { return smarthost.queue_empty(); }, std::chrono::seconds(30)));
  mark("smarthost-drained");
  scrape();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Accounting. Postfix's side: which instance gave each queue id its 250, and every line that
  // says the reply to a final dot was lost (a status=deferred at the last relayhost, or the
  // "queue id: reason" line Postfix logs when it moves on to the next one).
  const std::string log = postfix.maillog();
  const auto qids = message_ids(log);           // queue id -> soak id
  std::map<std::string, std::string> sent_via;  // queue id -> instance address
  std::map<std::string, int> lost_replies;      // queue id -> lines
  std::set<std::string> moved_on_after_class;   // queue ids with "said: 4.." naming a class
  std::map<std::string, int> said_4xx;          // instance -> 4xx replies Postfix logged
  {
    static const std::regex sent(
        R"(: ([0-9A-F]+): to=<[^>]*>, relay=[^\[ ]*\[([0-9.]+)\]:[0-9]+,.* status=sent )");
    static const std::regex qid_line(R"(: ([0-9A-F]+): )");
    std::istringstream in(log);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, sent)) sent_via[m[1].str()] = m[2].str();
      if (!std::regex_search(line, m, qid_line)) continue;
      if (line.find("duplicate is possible") != std::string::npos ||
          line.find("may be sent more than once") != std::string::npos) {
        ++lost_replies[m[1].str()];
      }
      if (line.find(" said: 4") != std::string::npos) {
        ++said_4xx[line.find("host " + a.address() + "[") != std::string::npos ? "a" : "b"];
        if (!class_in(line).empty()) moved_on_after_class.insert(m[1].str());
      }
    }
  }
  // The smarthost's side: each copy of each id, and the instance it came through (its EHLO
  // name in the smarthost's Received: line).
  std::map<std::string, std::vector<std::string>> copies;  // soak id -> "a" / "b" per copy
  for (const std::string& message : smarthost.delivered_messages()) {
    std::string id, via = "?";
    std::istringstream in(message);
    std::string line;
    while (std::getline(in, line) && !line.empty() && line != "\r") {
      if (line.rfind("X-Soak-Id: ", 0) == 0) id = line.substr(11);
      if (via == "?" && line.rfind("Received: from relay-a.test ", 0) == 0) via = "a";
      if (via == "?" && line.rfind("Received: from relay-b.test ", 0) == 0) via = "b";
    }
    if (!id.empty() && id.back() == '\r') id.pop_back();
    if (!id.empty()) copies[id].push_back(via);
  }
  std::map<std::string, std::vector<std::string>> qids_of;  // soak id -> queue ids
  for (const auto& [qid, mid] : qids) qids_of[mid].push_back(qid);

  std::size_t once = 0, more = 0, lost = 0, unexplained = 0, unmatched_250 = 0;
  std::map<std::string, int> sent_by = {{"a", 0}, {"b", 0}}, copies_by;
  std::vector<std::string> problems;
  for (const std::string& id : ids) {
    const auto& c = copies[id];
    for (const auto& via : c) ++copies_by[via];
    int explained = 0;
    for (const std::string& qid : qids_of[id]) {
      explained += lost_replies[qid];
      auto s = sent_via.find(qid);
      if (s == sent_via.end()) continue;
      // Postfix got a 250 from this instance: the smarthost must hold a copy from it.
      const std::string via = s->second == a.address() ? "a" : "b";
      ++sent_by[via];
      if (std::find(c.begin(), c.end(), via) == c.end()) {
        ++unmatched_250;
        problems.push_back("250 from " + via + " without its copy: " + id);
      }
    }
    if (c.empty()) {
      ++lost;
      problems.push_back("lost: " + id);
    } else if (c.size() == 1) {
      ++once;
    } else {
      ++more;
      if (static_cast<int>(c.size()) - 1 > explained) {
        ++unexplained;
        problems.push_back("unexplained duplicate: " + id);
      }
    }
  }
  std::map<std::string, int> by_class;
  int postfix_own = 0;
  for (const Deferral& d : deferrals(log)) {
    // Postfix's own excuse when its last destination was tried over a cached connection
    // and the address list left nothing to connect to (smtp_connect.c): the reason that
    // counts is the instance's 4xx it logged just before ("QUEUEID: host ... said: 451 ...").
    if (d.reason == "server unavailable or unable to receive mail" &&
        moved_on_after_class.count(d.queue_id) != 0) {
      ++by_class["postfix:cached-session-excuse"];
      continue;
    }
    ++by_class[d.kind];
    if (!d.from_tlsrelay || d.kind == "no-class-id") {
      ++postfix_own;
      problems.push_back("deferral not from tlsrelay or without a class id: " + d.reason);
    }
  }
  const bool bounced = log.find("status=bounced") != std::string::npos;
  // How many sessions the SIGKILL cut (Postfix's "lost connection with A ..."), for the report.
  int cut_by_kill = 0;
  for (std::size_t at = 0;
       (at = log.find("lost connection with " + a.address() + "[", at)) != std::string::npos;
       ++at) {
    ++cut_by_kill;
  }

  std::ostringstream report;
  report << "fleet: N=" << n << " in " << seconds << " s\n"
         << "  sent " << ids.size() << "; delivered " << (once + more) << " ids (" << once
         << " once, " << more << " more than once); lost " << lost << "; unexplained duplicates "
         << unexplained << "; bounced " << (bounced ? "YES" : "no") << "\n"
         << "  Postfix's 250 from A " << sent_by["a"] << ", from B " << sent_by["b"]
         << "; copies at the smarthost via A " << copies_by["a"] << ", via B " << copies_by["b"]
         << ", unknown " << copies_by["?"] << "; 250s without a copy " << unmatched_250 << "\n"
         << "  /metrics delivered increase: A " << a_delivered.increase << ", B "
         << b_delivered.increase << "; deferred: A " << a_deferred.increase << ", B "
         << b_deferred.increase << " (" << scrapes << " scrapes); Postfix logged 4xx from A "
         << said_4xx["a"] << ", from B " << said_4xx["b"] << "\n"
         << "  A's sessions cut by the SIGKILL (Postfix: lost connection): " << cut_by_kill << "\n"
         << "  deferrals by class:";
  for (const auto& [k, c] : by_class) report << " " << k << "=" << c;
  report << "\n  faults fired (" << fired_total << "):" << fired_text.str() << "\n"
         << "  steps (s):" << phases.str() << "\n";
  for (std::size_t i = 0; i < problems.size() && i < 12; ++i) report << "  " << problems[i] << "\n";
  std::cout << report.str() << std::flush;
  // TLSRELAY_FLEET_LOGS=DIR keeps every log of the run (the rig's directories go away).
  if (const char* keep = std::getenv("TLSRELAY_FLEET_LOGS"); keep && *keep) {
    std::ofstream(std::string(keep) + "/front.maillog") << log;
    std::ofstream(std::string(keep) + "/smarthost.maillog") << smarthost.maillog();
    std::ofstream(std::string(keep) + "/tlsrelay-a.log") << a.log();
    std::ofstream(std::string(keep) + "/tlsrelay-b.log") << b.log();
    std::ofstream(std::string(keep) + "/faultinject.log") << injector.log();
    std::ofstream(std::string(keep) + "/report.txt") << report.str();
  }
  INFO(report.str());

  CHECK(ids.size() == n);
  CHECK(lost == 0);
  CHECK(unexplained == 0);
  CHECK(unmatched_250 == 0);
  CHECK_FALSE(bounced);
  // Both instances relayed mail, and the fault mix hit every phase the soak requires.
  CHECK(sent_by["a"] > 0);
  CHECK(sent_by["b"] > 0);
  CHECK(copies_by["?"] == 0);
  CHECK(fired_total > 0);
  for (const char* point :
       {"connect", "banner", "ehlo", "starttls", "starttls-reply", "clienthello", "serverhello",
        "flight=1", "flight=2", "flight=3", "flight=4", "flight=5", "flight=6", "reply=6"}) {
    INFO("a fault at " << point);
    CHECK(fired.count(point) == 1);
  }
  // Failover, not waiting: every deferral is a reply of an instance naming its class, never
  // Postfix's own "connection refused" while A was down.
  CHECK(postfix_own == 0);
  // The scrapes agree with Postfix: B ran throughout, so its counter is exactly the 250s
  // Postfix logged from it; A's lost what it counted between its last scrape and the
  // SIGKILL, so its increase can only fall short.
  CHECK(b_delivered.increase == static_cast<double>(sent_by["b"]));
  CHECK(a_delivered.increase <= static_cast<double>(sent_by["a"]));
  CHECK(a_delivered.increase > 0);
}

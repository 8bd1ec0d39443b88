// Each fault of the injector, in each phase of the upstream dialogue, gets the downstream
// reply the relay rules demand (issue 3): before the final dot a 4xx and no delivery; after
// the dot with the reply lost a 4xx saying a duplicate is possible, and the smarthost did
// deliver; never a 250 the smarthost did not give. Then Postfix's view: the deferral reason
// in its log and queue names tlsrelay's class id.
#include <catch2/catch.hpp>
#include <iostream>
#include <set>

#include "integration/rig.hpp"
#include "tests/e2e/fixture.hpp"

using namespace tlsrelay::integration;
using tlsrelay::e2e::SmtpClient;

namespace {

// One attempt per message: the reply to a fault is tlsrelay's, not a retry's success.
const std::string kNoRetries =
    "[policy]\ndeadline_s = 10\nbackoff_s = [0.1]\n[policy.rules]\n\"default\" = [\"defer\"]\n"
    "\"network\" = [\"defer\"]\n\"connect-timeout\" = [\"defer\"]\n"
    "\"network-unreachable\" = [\"defer\"]\n";

struct PhaseCase {
  std::string rule;   // ACTION@POINT, for every connection
  std::string fires;  // the point the injector must log as fired
  bool after_dot;     // the smarthost got the final dot and answered 250
};

const std::vector<PhaseCase>& cases() {
  static const std::vector<PhaseCase> c = {
      {"reset@connect", "connect", false},
      {"close@connect", "connect", false},
      {"stall@connect", "connect", false},
      {"reset@banner", "banner", false},
      {"close@banner+10", "banner", false},
      {"stall@banner", "banner", false},
      {"reset@ehlo", "ehlo", false},
      {"close@starttls", "starttls", false},
      {"reset@starttls-reply", "starttls-reply", false},
      {"reset@clienthello", "clienthello", false},
      {"stall@serverhello+300", "serverhello", false},
      {"stall@after-bytes-up=300", "bytes-up", false},
      {"reset@tls-ehlo", "flight=1", false},
      {"close@auth", "flight=2", false},
      {"reset@mail", "flight=3", false},
      {"reset@rcpt", "flight=4", false},
      {"stall@data", "flight=5", false},
      {"reset@body+200", "flight=6", false},
      {"stall-up@body+300", "flight=6", false},
      {"reset@after-dot", "reply=6", true},
      {"close@after-dot", "reply=6", true},
      {"stall-down@after-dot", "reply=6", true},
  };
  return c;
}

struct Outcome {
  std::vector<std::string> replies;  // every reply, in order
  std::string last;                  // the one that ended the transaction
};

// EHLO, MAIL, RCPT, DATA, message; stops at the first reply that is not 2xx/354.
Outcome transact(unsigned short port, const std::string& id) {
  Outcome o;
  SmtpClient c(port);
  auto step = [&](const std::string& r) {
    o.replies.push_back(r);
    o.last = r;
    const int code = SmtpClient::code(r);
    return code / 100 == 2 || code == 354;
  };
  if (!step(c.reply())) return o;
  if (!step(c.cmd("EHLO client.test"))) return o;
  if (!step(c.cmd("MAIL FROM:<a@test>"))) return o;
  if (!step(c.cmd("RCPT TO:<sink@example.org>"))) return o;
  if (!step(c.cmd("DATA"))) return o;
  std::string body = "Message-ID: <" + id + "@phase.test>\r\nX-Soak-Id: " + id + "\r\n\r\n";
  while (body.size() < 2000) body += std::string(70, 'x') + "\r\n";
  c.send(body + ".\r\n");
  step(c.reply(std::chrono::seconds(30)));
  c.cmd("QUIT");
  return o;
}

int count_of(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<int>(std::count(v.begin(), v.end(), x));
}

}  // namespace

TEST_CASE("faults by phase: tlsrelay answers each fault as the relay rules demand",
          "[faults_by_phase]") {
  Smarthost smarthost(tlsrelay::e2e::cert_dir());
  Injector injector(smarthost.port(), "*:pass");
  Relay relay(injector.port(), tlsrelay::e2e::cert("ca.pem"), kNoRetries, /*reuse=*/false);
  {
    // The healthy path first: the rig works, and the smarthost really requires AUTH.
    Outcome ok = transact(relay.port(), "phase-ok");
    INFO("replies: " << ok.last << "\nrelay log:\n" << relay.log());
    REQUIRE(SmtpClient::code(ok.last) == 250);
  }
  std::vector<std::string> before_dot_ids;
  std::ostringstream table;
  int n = 0;
  for (const PhaseCase& pc : cases()) {
    const std::string id = "phase-" + std::to_string(++n);
    REQUIRE(injector.ctl("plan *:" + pc.rule).rfind("ok", 0) == 0);
    const int fired_before = injector.fired()[pc.fires];
    Outcome o = transact(relay.port(), id);
    table << "  " << pc.rule << std::string(28 - std::min<std::size_t>(27, pc.rule.size()), ' ')
          << o.last << "\n";
    INFO("fault " << pc.rule << ": replies\n"
                  <<
         [&] {
           std::string s;
           for (auto& r : o.replies) s += "  " + r + "\n";
           return s;
         }() << "injector log:\n"
                  << injector.log().substr(
                         injector.log().size() > 3000 ? injector.log().size() - 3000 : 0));
    // The fault fired where it was aimed.
    CHECK(injector.fired()[pc.fires] > fired_before);
    // The transaction ended in a 4xx of tlsrelay's: never a 250 the smarthost did not give.
    CHECK(SmtpClient::code(o.last) / 100 == 4);
    CHECK(o.last.find("tlsrelay:") != std::string::npos);
    if (pc.after_dot) {
      // The smarthost answered 250 to the dot; the reply was lost; the client must be told a
      // duplicate is possible (RFC 1047), and the smarthost did deliver.
      CHECK(o.replies.size() == 6);  // greeting, EHLO, MAIL, RCPT, DATA, final
      CHECK(o.last.find("duplicate is possible") != std::string::npos);
      CHECK(wait_until([&] { return count_of(smarthost.delivered("X-Soak-Id"), id) == 1; },
                       std::chrono::seconds(20)));
    } else {
      before_dot_ids.push_back(id);
    }
  }
  std::cout << "faults by phase, tlsrelay's reply to the local client:\n" << table.str();
  REQUIRE(injector.ctl("off").rfind("ok", 0) == 0);
  REQUIRE(wait_until([&] { return smarthost.queue_empty(); }, std::chrono::seconds(30)));
  const auto delivered = smarthost.delivered("X-Soak-Id");
  for (const std::string& id : before_dot_ids) {
    INFO(id << " failed before the final dot and must not have been delivered");
    CHECK(count_of(delivered, id) == 0);
  }
}

TEST_CASE("faults by phase: Postfix's queue names tlsrelay's class id", "[faults_by_phase]") {
  Smarthost smarthost(tlsrelay::e2e::cert_dir());
  Injector injector(smarthost.port(), "*:pass");
  Relay relay(injector.port(), tlsrelay::e2e::cert("ca.pem"), kNoRetries, /*reuse=*/false);
  FrontPostfix postfix(relay.port());
  std::ostringstream table;
  std::vector<std::string> ids;
  std::vector<std::string> queue_ids;
  int n = 0;
  for (const PhaseCase& pc : cases()) {
    const std::string id = "pfphase-" + std::to_string(++n);
    ids.push_back(id);
    REQUIRE(injector.ctl("plan *:" + pc.rule).rfind("ok", 0) == 0);
    {
      Submitter s(postfix.port());
      REQUIRE(s.send(id, 1500, "sink@example.org"));
    }
    std::string queue_id;
    std::vector<Deferral> mine;
    const bool deferred = wait_until(
        [&] {
          const std::string log = postfix.maillog();
          for (const auto& [qid, mid] : message_ids(log)) {
            if (mid == id) queue_id = qid;
          }
          mine.clear();
          for (const Deferral& d : deferrals(log)) {
            if (d.queue_id == queue_id) mine.push_back(d);
          }
          return !queue_id.empty() && !mine.empty();
        },
        std::chrono::seconds(30));
    INFO("fault " << pc.rule << "\nPostfix log:\n" << postfix.maillog());
    REQUIRE(deferred);
    queue_ids.push_back(queue_id);
    // Held, so that later faults of this loop cannot touch it again (Postfix may still have
    // retried it once before the hold: counted below from its log).
    postfix.hold(queue_id);
    const Deferral& d = mine.front();
    table << "  " << pc.rule << std::string(28 - std::min<std::size_t>(27, pc.rule.size()), ' ')
          << d.kind << "   (" << d.reason.substr(0, 160) << ")\n";
    INFO("deferral reason: " << d.reason);
    CHECK(d.from_tlsrelay);
    CHECK(d.reason.find("tlsrelay:") != std::string::npos);
    CHECK(d.kind != "no-class-id");
    // The queue holds the message with the same reason.
    const std::string queue = postfix.queue();
    CHECK(queue.find(queue_id) != std::string::npos);
  }
  std::cout << "faults by phase, Postfix's deferral reason (class id):\n" << table.str();
  REQUIRE(injector.ctl("off").rfind("ok", 0) == 0);
  postfix.release_all();
  postfix.flush();
  REQUIRE(wait_until([&] { return postfix.queue_empty(); }, std::chrono::seconds(60)));
  REQUIRE(wait_until([&] { return smarthost.queue_empty(); }, std::chrono::seconds(30)));
  const auto delivered = smarthost.delivered("X-Soak-Id");
  const auto all_deferrals = deferrals(postfix.maillog());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i] << " (" << cases()[i].rule << ")");
    // Never lost. An extra copy only where the smarthost's 250 to the dot was lost on the
    // way, and then one per such deferral in Postfix's log (RFC 1047): a retry before the
    // hold took effect may have met the same fault again.
    std::size_t maybe_delivered = 0;
    for (const Deferral& d : all_deferrals) {
      if (d.queue_id == queue_ids[i] &&
          d.reason.find("duplicate is possible") != std::string::npos) {
        ++maybe_delivered;
      }
    }
    // (A fault mid-body may also say "duplicate is possible" when our dot had already been
    // written; there the smarthost never saw it, so one copy is right.)
    const std::size_t copies = count_of(delivered, ids[i]);
    if (cases()[i].after_dot) {
      CHECK(copies >= 2);
      CHECK(copies <= 1 + maybe_delivered);
    } else {
      CHECK(copies == 1);
    }
  }
}

// The replay decision (policy.hpp replay_bar()): whether a transaction whose upstream was
// lost before our final dot may be carried over to a new route, and if not, why — in the
// order the no-replay log line reports it.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "proxy/policy/policy.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using std::chrono::seconds;

namespace {

config::PolicySettings defers(const std::string& key) {
  config::PolicySettings p;
  p.rules[key] = {config::Action{config::ActionKind::Defer, 1}};
  return p;
}

const config::PolicySettings built_in;  // network: retry, next-address, next-upstream
const config::PolicySettings reset_defers = defers("connection-reset");
const config::PolicySettings defers_network = defers("network");

}  // namespace

TEST_CASE("replay_bar: the first bar that holds, in order", "[policy][replay]") {
  const auto now = std::chrono::steady_clock::now();
  struct Row {
    const char* what;
    const config::PolicySettings* policy;
    FailureClass lost;
    int replays;
    bool in_data;
    bool buffer_usable;
    std::chrono::steady_clock::duration left;  // of the policy's deadline
    ReplayBar bar;
  };
  auto row = GENERATE(values<Row>({
      {"a first loss with time left", &built_in, FailureClass::ConnectionReset, 0, true, true,
       seconds(60), ReplayBar::None},
      {"a timeout is network too", &built_in, FailureClass::Timeout, 0, false, true, seconds(60),
       ReplayBar::None},
      {"connection-closed", &built_in, FailureClass::ConnectionClosed, 0, false, true, seconds(60),
       ReplayBar::None},
      {"the one replay was had", &built_in, FailureClass::ConnectionReset, 1, true, true,
       seconds(60), ReplayBar::ReplayedAlready},
      {"replayed once outranks everything else", &reset_defers, FailureClass::ConnectionReset, 1,
       true, false, seconds(0), ReplayBar::ReplayedAlready},
      {"a class whose rule only defers", &reset_defers, FailureClass::ConnectionReset, 0, true,
       true, seconds(60), ReplayBar::PolicyDefers},
      {"the rule of another class does not matter", &reset_defers, FailureClass::Timeout, 0, true,
       true, seconds(60), ReplayBar::None},
      {"a group rule that defers", &defers_network, FailureClass::Timeout, 0, false, true,
       seconds(60), ReplayBar::PolicyDefers},
      {"the data so far is not all kept", &built_in, FailureClass::ConnectionReset, 0, true, false,
       seconds(60), ReplayBar::NoReplayBuffer},
      {"before the data phase the buffer does not matter", &built_in, FailureClass::ConnectionReset,
       0, false, false, seconds(60), ReplayBar::None},
      {"less than two seconds left", &built_in, FailureClass::ConnectionReset, 0, true, true,
       std::chrono::milliseconds(1999), ReplayBar::DeadlineSpent},
      {"exactly two seconds left is enough", &built_in, FailureClass::ConnectionReset, 0, true,
       true, seconds(2), ReplayBar::None},
      {"the deadline already passed", &built_in, FailureClass::ConnectionReset, 0, false, true,
       -seconds(5), ReplayBar::DeadlineSpent},
  }));
  INFO(row.what);
  const LostTransaction t{row.lost,          row.replays, row.in_data,
                          row.buffer_usable, now,         now + row.left};
  CHECK(to_string(replay_bar(*row.policy, t)) == to_string(row.bar));
  CHECK(replay_bar(*row.policy, t) == row.bar);
}

TEST_CASE("replay_bar: the reasons as the no-replay log line gives them", "[policy][replay]") {
  CHECK(to_string(ReplayBar::None).empty());
  CHECK(to_string(ReplayBar::ReplayedAlready) == "replayed once already");
  CHECK(to_string(ReplayBar::PolicyDefers) == "the policy defers this class");
  CHECK(to_string(ReplayBar::NoReplayBuffer) == "no replay buffer");
  CHECK(to_string(ReplayBar::DeadlineSpent) == "the policy deadline is spent");
  CHECK(kMaxReplays == 1);
}

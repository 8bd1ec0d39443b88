// One /status request per cache period, however many threads ask.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "milter/status_cache.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  std::atomic<StatusCache::Clock::rep> ticks{0};
  StatusCache::Clock::time_point now() const {
    return StatusCache::Clock::time_point(StatusCache::Clock::duration(ticks.load()));
  }
  void advance(StatusCache::Clock::duration d) { ticks += d.count(); }
};

StatusReading healthy() {
  RouteStatus r;
  r.state = RouteState::Healthy;
  return StatusReading{r, ""};
}

}  // namespace

TEST_CASE("a reading is reused until it is max_age old", "[milter][cache]") {
  FakeClock clock;
  int calls = 0;
  StatusCache cache([&] { return ++calls, healthy(); }, 1s, [&] { return clock.now(); });
  CHECK(cache.get().route);
  CHECK(cache.get().route);
  clock.advance(999ms);
  cache.get();
  CHECK(calls == 1);
  clock.advance(1ms);
  cache.get();
  CHECK(calls == 2);
  CHECK(cache.fetches() == 2);
}

TEST_CASE("a failed reading is cached too: a down relay is not hammered", "[milter][cache]") {
  FakeClock clock;
  int calls = 0;
  StatusCache cache(
      [&] {
        return ++calls, StatusReading{std::nullopt, "refused"};
      },
      1s, [&] { return clock.now(); });
  for (int i = 0; i < 100; ++i) CHECK(cache.get().problem == "refused");
  CHECK(calls == 1);
}

TEST_CASE("a throwing fetch becomes a problem, not an exception", "[milter][cache]") {
  StatusCache cache([]() -> StatusReading { throw std::runtime_error("boom"); }, 1s);
  const auto r = cache.get();
  CHECK_FALSE(r.route);
  CHECK_THAT(r.problem, Catch::Contains("boom"));
}

TEST_CASE("many threads at once share one fetch", "[milter][cache]") {
  std::atomic<int> calls{0};
  StatusCache cache(
      [&] {
        ++calls;
        // A slow relay: the others must wait for this fetch, not start their own.
        std::this_thread::sleep_for(50ms);
        return healthy();
      },
      10s);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 100; ++j) ok += cache.get().route ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 3200);
  CHECK(calls == 1);
}

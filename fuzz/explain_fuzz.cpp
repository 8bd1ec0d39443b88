// Fuzzes `tlsrelay explain`'s log reader (proxy/explain/log_reader.hpp) with what a log may
// hold: any bytes, split into lines. Invariants: every string of every event is printable
// ASCII within its bound, a failure event has candidates only from the class table, the
// reader never holds more events than it was allowed, and the counters add up.
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/explain/log_reader.hpp"

using namespace tlsrelay;
using namespace tlsrelay::explain;

namespace {

void check_printable(const std::string& s, std::size_t max) {
  assert(s.size() <= max);
  for (char c : s) assert(c >= 0x20 && c < 0x7f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // A small line limit and table so that cutting and eviction are reached.
  LogReader reader(ReaderOptions{1796644800, 512, 4});
  std::vector<LogEvent> out;
  std::uint64_t fed = 0;
  while (!input.empty()) {
    const auto nl = input.find('\n');
    const std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    reader.feed(line, out);
    ++fed;
  }
  reader.finish(out);
  const ReaderStats& st = reader.stats();
  assert(st.lines == fed);
  assert(st.events == out.size());
  assert(st.recognised + st.skipped == st.lines);
  for (const LogEvent& e : out) {
    check_printable(e.host, 255);
    check_printable(e.address, 64);
    check_printable(e.queue_id, 32);
    check_printable(e.stage, 64);
    check_printable(e.detail, 300);
    for (FailureClass c : e.candidates) {
      assert(static_cast<int>(c) <= static_cast<int>(FailureClass::LocalConfig));
    }
    if (!is_failure(e.kind)) assert(e.candidates.empty());
  }
  return 0;
}

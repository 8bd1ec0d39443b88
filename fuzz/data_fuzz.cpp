// Fuzzes message data (DATA) the way SMTP smuggling attacks it: the reader is fed the input
// split where the first byte says, in either bare-newline mode, and what the writer puts on
// the upstream wire is checked. Invariants (issue 8, CVE-2023-51764/5/6): no CR or LF
// outside CRLF pairs, no NUL, no line that is a lone "." before the end, exactly one
// terminator at the very end; and re-reading our own output gives back the same lines.
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/server/data_reader.hpp"
#include "proxy/server/data_writer.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

namespace {

void check_wire(const std::string& wire) {
  for (std::size_t i = 0; i < wire.size(); ++i) {
    assert(wire[i] != '\0');
    if (wire[i] == '\r') assert(i + 1 < wire.size() && wire[i + 1] == '\n');
    if (wire[i] == '\n') assert(i > 0 && wire[i - 1] == '\r');
  }
  assert(wire.size() >= 3 && wire.compare(wire.size() - 3, 3, ".\r\n") == 0);
  // Only the last line may be a lone dot.
  const auto first_terminator = ("\r\n" + wire).find("\r\n.\r\n");
  assert(first_terminator == wire.size() - 3);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool normalize = data[0] & 1;
  const std::size_t split = size > 1 ? data[0] % size : 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  DataLimits limits;
  limits.max_line = 200;
  limits.max_size = 1 << 20;
  limits.bare_newlines = normalize ? BareNewlines::Normalize : BareNewlines::Reject;
  DataReader reader(limits);
  std::vector<std::string> lines;
  std::size_t used = 0;
  auto r1 = reader.feed(input.substr(0, std::min(split, input.size())), lines);
  used += r1.consumed;
  if (!reader.done() && split < input.size()) {
    auto r2 = reader.feed(input.substr(split), lines);
    used += r2.consumed;
  }
  assert(used <= input.size());
  if (!reader.done() || reader.error()) return 0;

  std::string wire;
  DataWriter writer(wire);
  for (const auto& l : lines) {
    assert(l.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    writer.line(l);
  }
  writer.finish();
  check_wire(wire);

  // Our own output read back is the same message.
  DataReader again(DataLimits{1 << 20, 1 << 22, BareNewlines::Reject});
  std::vector<std::string> back;
  auto r = again.feed(wire, back);
  assert(again.done() && !again.error() && r.consumed == wire.size());
  assert(back == lines);
  return 0;
}

// Fuzzes the SMTP reply parser with what a hostile upstream may send, line by line.
// Invariants: a complete reply has a code in 200..599 range families (2xx-5xx) and at least
// one line; the wire form we would log or pass on has only CRLF line ends.
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/smtp_reply.hpp"

using namespace tlsrelay;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ReplyParser parser;
  while (!input.empty()) {
    const auto nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    auto status = parser.feed(line);
    if (status == ReplyParser::Status::NotSmtp) {
      parser = ReplyParser();
      continue;
    }
    if (status == ReplyParser::Status::Complete) {
      Reply r = parser.take();
      assert(r.code >= 100 && r.code <= 599);
      assert(!r.lines.empty());
      const std::string wire = to_wire(r);
      for (std::size_t i = 0; i < wire.size(); ++i) {
        if (wire[i] == '\n') assert(i > 0 && wire[i - 1] == '\r');
        if (wire[i] == '\r') assert(i + 1 < wire.size() && wire[i + 1] == '\n');
      }
      (void)r.joined();
      (void)r.first_line();
    }
  }
  return 0;
}

// Fuzzes the SMTP command reader and the MAIL/RCPT/BDAT/EHLO parsers with what a hostile
// client may send. Invariants: the reader never holds more than its line limit, never
// loses octets (consumed + rest = input), and every parser returns a value or a reply.
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/server/command_parser.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CommandReader reader(512);
  std::string_view rest = input;
  int guard = 0;
  while (!rest.empty() && ++guard < 100000) {
    auto r = reader.feed(rest);
    assert(r.consumed <= rest.size());
    assert(reader.buffered() <= 512);
    rest.remove_prefix(r.consumed);
    if (!reader.line_pending()) {
      if (r.consumed == 0) break;
      continue;
    }
    auto taken = reader.take();
    if (const auto* line = std::get_if<std::string>(&taken)) {
      assert(line->size() <= 512);
      (void)parse_mail(*line);
      (void)parse_rcpt(*line);
      (void)parse_bdat(*line);
      (void)parse_ehlo(*line);
    }
  }
  return 0;
}

// Fuzzes the TOML config loader: any text either loads or throws ConfigError whose every
// line names the source (FILE:LINE:COL or FILE:), never another exception or a crash.
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config_error.hpp"
#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)tlsrelay::config::parse_settings(text, "fuzz.toml");
  } catch (const tlsrelay::config::ConfigError& e) {
    const std::string what = e.what();
    assert(what.rfind("fuzz.toml:", 0) == 0);
  }
  return 0;
}

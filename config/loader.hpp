// Loading the TOML configuration into config::Settings, with every problem reported.
//
// Unknown keys and wrong types are errors. On any problem throws ConfigError with one line
// per problem, "FILE:LINE:COL: what was expected", in file order. Secret files are not
// read here (see secret_file.hpp). Reentrant; load_settings() does file I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace tlsrelay::config {

Settings load_settings(const std::string& path);
// `source_name` is the FILE of the error lines and Settings::source.
Settings parse_settings(std::string_view text, const std::string& source_name);

// For check-config (the relay's and the milter's): whether the relay this file configures
// answers the milter's status_url ([milter] and [http] listen in one file). A valid file may
// still get this wrong; the milter would then accept every message without route health
// (it fails open). "FILE:LINE:COL: ..." or nothing.
std::optional<std::string> status_url_problem(const Settings& settings);

}  // namespace tlsrelay::config

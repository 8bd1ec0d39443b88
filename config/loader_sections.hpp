// The loader's sections that live in their own file (loader_milter_http.cpp,
// loader_health.cpp). Internal to config/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/toml_reader.hpp"

namespace tlsrelay::config::detail {

std::string milter_socket_problem(std::string_view s);
std::string parse_status_url(std::string_view url, MilterSettings& m);
void read_milter(TableReader& r, MilterSettings& m);
void read_allowed_hosts(TableReader& r, std::vector<std::string>& out);
bool same_host_name(std::string_view a, std::string_view b);
void check_status_host(TableReader& r, const MilterSettings& m, const HttpSettings& http);
// [health] but its sub-tables; the caller calls r.finish().
void read_health(TableReader& r, HealthSettings& h);

// [health.recurrence] (loader_recurrence.cpp), read from the [health] table's reader.
void read_health_recurrence(TableReader& health, RecurrenceRule& rule);

}  // namespace tlsrelay::config::detail

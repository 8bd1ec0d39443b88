#include "proxy/explain/log_line.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

namespace tlsrelay::explain {

namespace {

constexpr std::int64_t kFutureSlack = 86400;  // a log written up to a day "ahead" of now
constexpr std::size_t kMaxProgram = 64;
constexpr int kMaxJsonDepth = 2;  // MESSAGE's byte array is the deepest thing we read

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Exactly n digits at s[pos..]; advances pos.
bool fixed_digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

bool valid_date_time(int y, int mo, int d, int h, int mi, int s) {
  return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) &&
         h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

int month_from_abbr(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) return i + 1;
  }
  return 0;
}

// ".123456" (any number of digits, the first six kept) at s[pos..]; advances pos.
int fraction_micros(std::string_view s, std::size_t& pos) {
  if (pos >= s.size() || s[pos] != '.') return 0;
  ++pos;
  int micros = 0;
  int n = 0;
  while (pos < s.size() && is_digit(s[pos])) {
    if (n < 6) micros = micros * 10 + (s[pos] - '0');
    ++n;
    ++pos;
  }
  for (; n < 6; ++n) micros *= 10;
  return micros;
}

bool parse_pid(std::string_view digits, std::int64_t& pid) {
  if (digits.empty() || digits.size() > 10) return false;
  std::int64_t v = 0;
  for (char c : digits) {
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pid = v;
  return true;
}

bool plausible_program(std::string_view p) {
  if (p.empty() || p.size() > kMaxProgram) return false;
  for (char c : p) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '[' || c == ']' || c == ':') return false;
  }
  return true;
}

// "host program[pid]: message" or "host program: message" (after the time stamp).
bool parse_host_tag(std::string_view rest, LogLine& out) {
  auto sp = rest.find(' ');
  if (sp == 0 || sp == std::string_view::npos || sp > kMaxHost) return false;
  out.host = rest.substr(0, sp);
  rest.remove_prefix(sp + 1);
  std::size_t end = 0;
  while (end < rest.size() && end <= kMaxProgram && rest[end] != '[' && rest[end] != ':' &&
         rest[end] != ' ') {
    ++end;
  }
  if (end == 0 || end >= rest.size() || end > kMaxProgram) return false;
  out.program = rest.substr(0, end);
  if (rest[end] == '[') {
    auto close = rest.find(']', end);
    if (close == std::string_view::npos || close > end + 12) return false;
    if (!parse_pid(rest.substr(end + 1, close - end - 1), out.pid)) return false;
    end = close + 1;
  }
  if (end >= rest.size() || rest[end] != ':') return false;
  ++end;
  if (end < rest.size() && rest[end] == ' ') ++end;
  out.message = rest.substr(end);
  return true;
}

// "2026-12-07T03:35:47" or "2026-12-07 03:35:47" (sep says which) at s[0..].
bool iso_date_time(std::string_view s, char sep, int f[6], std::size_t& pos) {
  pos = 0;
  if (!fixed_digits(s, pos, 4, f[0]) || pos >= s.size() || s[pos++] != '-') return false;
  if (!fixed_digits(s, pos, 2, f[1]) || pos >= s.size() || s[pos++] != '-') return false;
  if (!fixed_digits(s, pos, 2, f[2]) || pos >= s.size() || s[pos++] != sep) return false;
  if (!fixed_digits(s, pos, 2, f[3]) || pos >= s.size() || s[pos++] != ':') return false;
  if (!fixed_digits(s, pos, 2, f[4]) || pos >= s.size() || s[pos++] != ':') return false;
  if (!fixed_digits(s, pos, 2, f[5])) return false;
  return valid_date_time(f[0], f[1], f[2], f[3], f[4], f[5]);
}

std::int64_t utc_epoch(const int f[6]) {
  return days_from_civil(f[0], f[1], f[2]) * 86400 + f[3] * 3600 + f[4] * 60 + f[5];
}

// "Z", "+00:00", "+0000", "-05:00" at s[pos..]: offset in seconds east of UTC.
bool zone_offset(std::string_view s, std::size_t& pos, std::int64_t& offset, bool& present) {
  present = false;
  offset = 0;
  if (pos >= s.size()) return true;
  if (s[pos] == 'Z') {
    ++pos;
    present = true;
    return true;
  }
  if (s[pos] != '+' && s[pos] != '-') return true;
  int sign = s[pos] == '-' ? -1 : 1;
  ++pos;
  int hh = 0;
  int mm = 0;
  if (!fixed_digits(s, pos, 2, hh)) return false;
  if (pos < s.size() && s[pos] == ':') ++pos;
  if (!fixed_digits(s, pos, 2, mm) || hh > 23 || mm > 59) return false;
  offset = sign * (hh * 3600 + mm * 60);
  present = true;
  return true;
}

const nlohmann::json* json_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// A journal field: a string, or (for bytes that are not UTF-8) an array of numbers.
bool json_bytes(const nlohmann::json* v, std::string& out) {
  if (!v) return false;
  if (v->is_string()) {
    out = v->get_ref<const std::string&>();
    return true;
  }
  if (!v->is_array()) return false;
  out.clear();
  for (const auto& b : *v) {
    if (!b.is_number_unsigned() || b.get<std::uint64_t>() > 255) return false;
    out.push_back(static_cast<char>(b.get<std::uint64_t>()));
  }
  return true;
}

}  // namespace

std::int64_t days_from_civil(int y, int m, int d) {
  // Howard Hinnant's days_from_civil: eras of 400 years starting in March.
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

LineParser::LineParser(std::int64_t now_unix) : now_(now_unix) {
  std::time_t t = static_cast<std::time_t>(now_unix);
  std::tm tm{};
  now_year_ = localtime_r(&t, &tm) ? tm.tm_year + 1900 : 1970;
}

std::int64_t LineParser::local_to_unix(int y, int mo, int d, int h, int mi, int s) {
  const std::int64_t key = ((static_cast<std::int64_t>(y) * 13 + mo) * 32 + d) * 24 + h;
  if (key != hour_key_) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) {
      const int f[6] = {y, mo, d, h, 0, 0};
      hour_epoch_ = utc_epoch(f);
    } else {
      hour_epoch_ = static_cast<std::int64_t>(t);
    }
    hour_key_ = key;
  }
  return hour_epoch_ + mi * 60 + s;
}

bool LineParser::parse(std::string_view line, LogLine& out, std::string& scratch) {
  out = LogLine{};
  if (line.size() < 16) return false;
  const char c = line[0];
  if (c == '{') return parse_json(line, out, scratch);
  if (c == '<') return parse_5424(line, out);
  if (is_digit(c) && line.size() > 19) {
    if (line[10] == 'T') return parse_iso(line, out);
    if (line[10] == ' ') return parse_exim(line, out);
    return false;
  }
  if (c >= 'A' && c <= 'S') return parse_bsd(line, out);
  return false;
}

bool LineParser::parse_bsd(std::string_view line, LogLine& out) {
  // "Dec  7 03:35:47 " (RFC 3164) or "Dec 07 03:35:47 " (Postfix's maillog_file).
  if (line.size() < 16 || line[3] != ' ') return false;
  const int mo = month_from_abbr(line.substr(0, 3));
  if (mo == 0) return false;
  std::size_t pos = 4;
  int d = 0;
  if (line[4] == ' ') {
    pos = 5;
    if (!fixed_digits(line, pos, 1, d)) return false;
  } else if (!fixed_digits(line, pos, 2, d)) {
    return false;
  }
  int h = 0;
  int mi = 0;
  int s = 0;
  if (pos >= line.size() || line[pos++] != ' ') return false;
  if (!fixed_digits(line, pos, 2, h) || pos >= line.size() || line[pos++] != ':') return false;
  if (!fixed_digits(line, pos, 2, mi) || pos >= line.size() || line[pos++] != ':') return false;
  if (!fixed_digits(line, pos, 2, s)) return false;
  const int micros = fraction_micros(line, pos);
  if (pos >= line.size() || line[pos++] != ' ') return false;
  // No year in the line: the latest year in which the time is not (much) after now. A
  // 29 February goes back to the last leap year.
  int y = now_year_;
  for (int i = 0; i < 8 && !valid_date_time(y, mo, d, h, mi, s); ++i) --y;
  if (!valid_date_time(y, mo, d, h, mi, s)) return false;
  std::int64_t t = local_to_unix(y, mo, d, h, mi, s);
  if (t > now_ + kFutureSlack) {
    --y;
    for (int i = 0; i < 8 && !valid_date_time(y, mo, d, h, mi, s); ++i) --y;
    if (!valid_date_time(y, mo, d, h, mi, s)) return false;
    t = local_to_unix(y, mo, d, h, mi, s);
  }
  if (!parse_host_tag(line.substr(pos), out)) return false;
  out.form = LineForm::Rfc3164;
  out.time = LogTime{t, micros, true};
  return true;
}

bool LineParser::parse_iso(std::string_view line, LogLine& out) {
  int f[6];
  std::size_t pos = 0;
  if (!iso_date_time(line, 'T', f, pos)) return false;
  const int micros = fraction_micros(line, pos);
  std::int64_t offset = 0;
  bool zoned = false;
  if (!zone_offset(line, pos, offset, zoned)) return false;
  if (pos >= line.size() || line[pos++] != ' ') return false;
  if (!parse_host_tag(line.substr(pos), out)) return false;
  const std::int64_t t =
      zoned ? utc_epoch(f) - offset : local_to_unix(f[0], f[1], f[2], f[3], f[4], f[5]);
  out.form = LineForm::Iso;
  out.time = LogTime{t, micros, false};
  return true;
}

bool LineParser::parse_exim(std::string_view line, LogLine& out) {
  int f[6];
  std::size_t pos = 0;
  if (!iso_date_time(line, ' ', f, pos)) return false;
  const int micros = fraction_micros(line, pos);
  std::int64_t offset = 0;
  bool zoned = false;
  if (pos + 1 < line.size() && line[pos] == ' ' && (line[pos + 1] == '+' || line[pos + 1] == '-')) {
    ++pos;
    if (!zone_offset(line, pos, offset, zoned)) return false;
  }
  if (pos >= line.size() || line[pos++] != ' ') return false;
  std::string_view rest = line.substr(pos);
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close > 12) return false;
    if (!parse_pid(rest.substr(1, close - 1), out.pid)) return false;
    rest.remove_prefix(close + 1);
    if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  }
  const std::int64_t t =
      zoned ? utc_epoch(f) - offset : local_to_unix(f[0], f[1], f[2], f[3], f[4], f[5]);
  out.form = LineForm::EximMainlog;
  out.time = LogTime{t, micros, false};
  out.host = {};
  out.program = "exim";
  out.message = rest;
  return true;
}

bool LineParser::parse_5424(std::string_view line, LogLine& out) {
  // "<PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]" (RFC 5424 section 6).
  std::size_t pos = 1;
  while (pos < line.size() && pos <= 4 && is_digit(line[pos])) ++pos;
  if (pos == 1 || pos >= line.size() || line[pos] != '>') return false;
  ++pos;
  std::string_view rest = line.substr(pos);
  if (rest.size() < 2 || rest[0] != '1' || rest[1] != ' ') {
    // A relay's RFC 3164 line with its PRI kept: "<22>Dec  7 03:35:47 mta ...".
    return !rest.empty() && rest[0] >= 'A' && rest[0] <= 'S' && parse_bsd(rest, out);
  }
  rest.remove_prefix(2);
  auto next_field = [&rest](std::string_view& field) {
    auto sp = rest.find(' ');
    if (sp == 0 || sp == std::string_view::npos) return false;
    field = rest.substr(0, sp);
    rest.remove_prefix(sp + 1);
    return true;
  };
  std::string_view ts;
  std::string_view host;
  std::string_view app;
  std::string_view procid;
  std::string_view msgid;
  if (!next_field(ts) || !next_field(host) || !next_field(app) || !next_field(procid) ||
      !next_field(msgid)) {
    return false;
  }
  LogTime time;
  if (ts != "-") {
    int f[6];
    std::size_t tp = 0;
    if (!iso_date_time(ts, 'T', f, tp)) return false;
    time.micros = fraction_micros(ts, tp);
    std::int64_t offset = 0;
    bool zoned = false;
    if (!zone_offset(ts, tp, offset, zoned) || tp != ts.size() || !zoned) return false;
    time.unix_s = utc_epoch(f) - offset;
  }
  // STRUCTURED-DATA: "-" or "[id k="v" ...]..." where "\]" and "\"" escape inside values.
  if (rest.empty()) return false;
  if (rest[0] == '-') {
    rest.remove_prefix(1);
  } else {
    while (!rest.empty() && rest[0] == '[') {
      std::size_t i = 1;
      bool quoted = false;
      for (; i < rest.size(); ++i) {
        if (quoted && rest[i] == '\\') {
          ++i;
        } else if (rest[i] == '"') {
          quoted = !quoted;
        } else if (!quoted && rest[i] == ']') {
          break;
        }
      }
      if (i >= rest.size()) return false;
      rest.remove_prefix(i + 1);
    }
  }
  if (!rest.empty()) {
    if (rest[0] != ' ') return false;
    rest.remove_prefix(1);
  }
  if (rest.size() >= 3 && rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);
  if (host == "-") host = {};
  if (app == "-" || !plausible_program(app) || host.size() > kMaxHost) return false;
  out.form = LineForm::Rfc5424;
  out.time = time;
  out.host = host;
  out.program = app;
  if (procid != "-" && !parse_pid(procid, out.pid)) out.pid = -1;
  out.message = rest;
  return true;
}

bool LineParser::parse_json(std::string_view line, LogLine& out, std::string& scratch) {
  // Most journal entries are not an MTA's: look for the field before parsing the object.
  if (line.find("\"MESSAGE\"") == std::string_view::npos) return false;
  // Depth-limited: a hostile "[[[[..." never builds a deep tree.
  nlohmann::json::parser_callback_t cb = [](int depth, nlohmann::json::parse_event_t,
                                            nlohmann::json&) { return depth <= kMaxJsonDepth; };
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), cb, false);
  if (j.is_discarded() || !j.is_object()) return false;
  std::string message;
  std::string program;
  std::string host;
  if (!json_bytes(json_field(j, "MESSAGE"), message)) return false;
  if (!json_bytes(json_field(j, "SYSLOG_IDENTIFIER"), program) || !plausible_program(program)) {
    return false;
  }
  if (!json_bytes(json_field(j, "_HOSTNAME"), host) || host.size() > kMaxHost) host.clear();
  std::string pid;
  if (json_bytes(json_field(j, "SYSLOG_PID"), pid) || json_bytes(json_field(j, "_PID"), pid)) {
    if (!parse_pid(pid, out.pid)) out.pid = -1;
  }
  std::string ts;
  if (json_bytes(json_field(j, "__REALTIME_TIMESTAMP"), ts) && !ts.empty() && ts.size() <= 19) {
    std::int64_t us = 0;
    bool ok = true;
    for (char c : ts) {
      if (!is_digit(c)) ok = false;
      if (ok) us = us * 10 + (c - '0');
    }
    if (ok) out.time = LogTime{us / 1000000, static_cast<int>(us % 1000000), false};
  }
  scratch.clear();
  scratch.reserve(host.size() + program.size() + message.size());
  scratch += host;
  scratch += program;
  scratch += message;
  std::string_view all = scratch;
  out.form = LineForm::JournalJson;
  out.host = all.substr(0, host.size());
  out.program = all.substr(host.size(), program.size());
  out.message = all.substr(host.size() + program.size());
  return true;
}

}  // namespace tlsrelay::explain

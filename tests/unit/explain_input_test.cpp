// explain's inputs on real files in a temporary directory: plain and gzip logs, the last line
// without a newline, CRLF, NULs, a line past the limit, a truncated .gz, what cannot be
// opened, the rotated mail.log order, and --since/--until's forms.
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/cli/explain_input.hpp"

using namespace tlsrelay::proxy;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path;
  Dir() {
    char tmpl[] = "/tmp/tlsrelay-explain-input.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return (path / name).string();
  }
  std::string write_gz(const std::string& name, const std::string& content) const {
    const std::string p = (path / name).string();
    gzFile gz = ::gzopen(p.c_str(), "wb");
    ::gzwrite(gz, content.data(), static_cast<unsigned>(content.size()));
    ::gzclose(gz);
    return p;
  }
};

std::vector<std::string> all_lines(LineSource& in) {
  std::vector<std::string> lines;
  for (std::string line; in.next(line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("a plain log: lines as written, CRLF and the last line without a newline",
          "[explain][input]") {
  Dir d;
  const auto in = open_log(d.write("mail.log", "one\r\ntwo\n\nlast"));
  CHECK(all_lines(*in) == std::vector<std::string>{"one", "two", "", "last"});
  CHECK(in->stats().lines == 4);
  CHECK(in->warning().empty());
  CHECK(in->name() == (d.path / "mail.log").string());
}

TEST_CASE("a gzip log reads as the plain one", "[explain][input]") {
  Dir d;
  std::string text;
  for (int i = 0; i < 50000; ++i) text += "line " + std::to_string(i) + "\n";
  const auto in = open_log(d.write_gz("mail.log.2.gz", text));
  const auto lines = all_lines(*in);
  REQUIRE(lines.size() == 50000);
  CHECK(lines.front() == "line 0");
  CHECK(lines.back() == "line 49999");
  CHECK(in->stats().bytes == text.size());
}

TEST_CASE("a truncated .gz ends with a warning; the lines before it stand", "[explain][input]") {
  Dir d;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + " of a rotated log\n";
  const std::string whole = d.write_gz("whole.gz", text);
  std::ifstream f(whole, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const auto in = open_log(d.write("cut.gz", bytes.substr(0, bytes.size() / 2)));
  const auto lines = all_lines(*in);
  CHECK(lines.size() > 100);
  CHECK(lines.size() < 20000);
  CHECK(lines.front() == "line 0 of a rotated log");
  INFO(in->warning());
  CHECK(in->warning().find("cut.gz: unexpected end of file") != std::string::npos);
}

TEST_CASE("a line past the limit is cut there, the next one is whole; NULs become spaces",
          "[explain][input]") {
  Dir d;
  const std::string huge(1024 * 1024, 'x');
  const auto in = open_log(d.write("hostile", huge + "\nafter\nnul\0here\n"s));
  const auto lines = all_lines(*in);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].size() == kMaxLogLine);
  CHECK(lines[1] == "after");
  CHECK(lines[2] == "nul here");
  CHECK(in->stats().cut_lines == 1);
  CHECK(in->stats().nul_bytes == 1);
}

TEST_CASE("what cannot be read is named with the reason", "[explain][input]") {
  Dir d;
  CHECK_THROWS_WITH(open_log((d.path / "absent").string()),
                    Catch::EndsWith("absent: No such file or directory"));
  CHECK_THROWS_WITH(open_log(d.path.string()), Catch::EndsWith("is a directory, not a log file"));
}

TEST_CASE("rotated mail logs are read oldest first, mail.log last", "[explain][input]") {
  Dir d;
  CHECK(default_mail_logs(d.path.string()).empty());
  d.write("mail.log", "");
  d.write("mail.log.1", "");
  d.write_gz("mail.log.2.gz", "");
  d.write_gz("mail.log.10.gz", "");
  d.write("mail.log.old", "");
  d.write("mail.err", "");
  const std::string p = d.path.string() + "/";
  CHECK(default_mail_logs(d.path.string()) ==
        std::vector<std::string>{p + "mail.log.10.gz", p + "mail.log.2.gz", p + "mail.log.1",
                                 p + "mail.log"});
}

TEST_CASE("--since and --until as journalctl reads them", "[explain][input]") {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  const std::int64_t now = 1796614800;  // 2026-12-07T03:40:00Z
  CHECK(parse_time_arg("2026-12-01", now) == 1796083200);
  CHECK(parse_time_arg("2026-12-01 10:00", now) == 1796119200);
  CHECK(parse_time_arg("2026-12-01 10:00:30", now) == 1796119230);
  CHECK(parse_time_arg("2026-12-01T10:00:30Z", now) == 1796119230);
  CHECK(parse_time_arg("today", now) == 1796601600);
  CHECK(parse_time_arg("yesterday", now) == 1796515200);
  CHECK(parse_time_arg("-2h", now) == now - 7200);
  CHECK(parse_time_arg("-30m", now) == now - 1800);
  CHECK(parse_time_arg("-7d", now) == now - 7 * 86400);
  for (const char* bad : {"", "soon", "2026-13-01", "2026-12-01 25:00", "-h", "-5y",
                          "2026-12-01X10:00", "2026-12-01 10:00:00+01:00", "-99999999d"}) {
    INFO(bad);
    CHECK_FALSE(parse_time_arg(bad, now));
  }
}

#include "proxy/cli/explain_input.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

#include "common/unique_fd.hpp"
#include "proxy/cli/subprocess.hpp"

namespace tlsrelay::proxy {

namespace {

constexpr unsigned kReadBlock = 256 * 1024;

// Lines out of a zlib stream (plain or gzip) on a descriptor.
class GzLines : public LineSource {
 public:
  GzLines(int fd, std::string name) : buf_(kReadBlock) {
    name_ = std::move(name);
    gz_ = ::gzdopen(fd, "rb");
    if (gz_ == nullptr) {
      ::close(fd);
      throw InputError(name_ + ": cannot read: out of memory");
    }
    ::gzbuffer(gz_, kReadBlock);
  }
  ~GzLines() override {
    if (gz_ != nullptr) ::gzclose_r(gz_);
  }
  GzLines(const GzLines&) = delete;
  GzLines& operator=(const GzLines&) = delete;

  bool next(std::string& line) override {
    line.clear();
    bool in_line = false;  // bytes of this line seen (it may be empty after a cut)
    bool skipping = false;
    for (;;) {
      if (pos_ == len_ && !fill()) {
        if (!in_line) return false;
        finish(line);
        return true;
      }
      const char* start = buf_.data() + pos_;
      const std::size_t avail = len_ - pos_;
      const void* nl = std::memchr(start, '\n', avail);
      const std::size_t take =
          nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) : avail;
      if (!skipping) {
        const std::size_t room = kMaxLogLine - line.size();
        if (take > room) {
          line.append(start, room);
          skipping = true;
          ++stats_.cut_lines;
        } else {
          line.append(start, take);
        }
      }
      in_line = true;
      pos_ += take;
      if (nl != nullptr) {
        ++pos_;
        finish(line);
        return true;
      }
    }
  }

 protected:
  // After the input's end: a subclass checks how it ended.
  virtual void ended() {}

 private:
  bool fill() {
    if (eof_) return false;
    const int n = ::gzread(gz_, buf_.data(), kReadBlock);
    if (n > 0) {
      pos_ = 0;
      len_ = static_cast<std::size_t>(n);
      stats_.bytes += len_;
      return true;
    }
    eof_ = true;
    // zlib reports a gzip stream that ends early as the end (0) with Z_BUF_ERROR set.
    int code = Z_OK;
    const char* why = ::gzerror(gz_, &code);
    if (code != Z_OK) {
      if (code == Z_ERRNO) throw InputError(name_ + ": cannot read: " + std::strerror(errno));
      // Z_BUF_ERROR: the compressed data ends early; Z_DATA_ERROR: it is damaged. What was
      // read stands.
      std::string what = why != nullptr ? why : "damaged compressed data";
      if (what.rfind("<fd:", 0) == 0 && what.find(": ") != std::string::npos) {
        what.erase(0, what.find(": ") + 2);  // zlib names the descriptor; we name the file
      }
      warning_ = name_ + ": " + what + "; the lines before it were read";
    }
    ended();
    return false;
  }

  void finish(std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (auto* p = static_cast<char*>(std::memchr(line.data(), '\0', line.size())); p != nullptr;
         p = static_cast<char*>(
             std::memchr(p, '\0', line.size() - static_cast<std::size_t>(p - line.data())))) {
      *p = ' ';
      ++stats_.nul_bytes;
    }
    ++stats_.lines;
  }

  gzFile gz_ = nullptr;
  std::vector<char> buf_;
  std::size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
};

// journalctl's output through a pipe; its exit status and complaint are read at the end.
class JournalLines : public GzLines {
 public:
  JournalLines(int fd, pid_t pid, UniqueFd err, std::string name)
      : GzLines(fd, std::move(name)), pid_(pid), err_(std::move(err)) {}
  // Read to the end or not, journalctl goes: stopped first when the reader leaves early.
  ~JournalLines() override {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    reap();
  }
  JournalLines(const JournalLines&) = delete;
  JournalLines& operator=(const JournalLines&) = delete;

 protected:
  void ended() override {
    const int status = reap();
    if (status == 0) return;
    std::string complaint;
    if (err_.valid()) {
      char text[512] = {};
      const ssize_t n = ::pread(err_.get(), text, sizeof text - 1, 0);
      if (n > 0) complaint.assign(text, static_cast<std::size_t>(n));
    }
    if (const auto nl = complaint.find('\n'); nl != std::string::npos) complaint.resize(nl);
    throw InputError(name() + ": " +
                     (complaint.empty() ? "exit status " + std::to_string(status) : complaint));
  }

 private:
  int reap() {
    if (pid_ <= 0) return reaped_;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    reaped_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return reaped_;
  }
  pid_t pid_;
  int reaped_ = 0;
  UniqueFd err_;
};

std::tm local_tm(std::int64_t t) {
  std::tm tm{};
  const auto tt = static_cast<std::time_t>(t);
  ::localtime_r(&tt, &tm);
  return tm;
}

}  // namespace

std::unique_ptr<LineSource> open_log(const std::string& path) {
  if (path == "-") {
    const int fd = ::dup(STDIN_FILENO);
    if (fd < 0) throw InputError(std::string("standard input: ") + std::strerror(errno));
    return std::make_unique<GzLines>(fd, "standard input");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": is a directory, not a log file");
  }
  return std::make_unique<GzLines>(fd, path);
}

std::unique_ptr<LineSource> open_journal(const std::optional<std::string>& unit,
                                         const std::optional<std::string>& since,
                                         const std::optional<std::string>& until) {
  const auto path = find_program("journalctl");
  if (!path) throw InputError("journalctl: not found (no systemd journal here): name a log file");
  std::vector<std::string> argv = {*path, "-o", "json", "--no-pager", "-q"};
  if (unit) argv.insert(argv.end(), {"-u", *unit});
  if (since) argv.insert(argv.end(), {"--since", *since});
  if (until) argv.insert(argv.end(), {"--until", *until});
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw InputError(std::string("pipe: ") + std::strerror(errno));
  UniqueFd err(::memfd_create("journalctl-stderr", MFD_CLOEXEC));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw InputError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    if (err.valid()) ::dup2(err.get(), STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  return std::make_unique<JournalLines>(out[0], pid, std::move(err), "journalctl -o json");
}

std::vector<std::string> default_mail_logs(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path current = fs::path(dir) / "mail.log";
  std::error_code ec;
  if (!fs::is_regular_file(current, ec)) return {};
  // mail.log.1, mail.log.2.gz, ...: the higher the number, the older.
  std::map<int, std::string, std::greater<>> rotated;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("mail.log.", 0) != 0) continue;
    std::string rest = name.substr(9);
    if (rest.size() > 3 && rest.compare(rest.size() - 3, 3, ".gz") == 0)
      rest.resize(rest.size() - 3);
    if (rest.empty() || rest.find_first_not_of("0123456789") != std::string::npos) continue;
    if (rest.size() > 4) continue;
    rotated.emplace(std::stoi(rest), entry.path().string());
  }
  std::vector<std::string> files;
  for (const auto& [n, path] : rotated) files.push_back(path);
  files.push_back(current.string());
  return files;
}

std::optional<std::int64_t> parse_time_arg(const std::string& text, std::int64_t now_unix) {
  if (text == "today" || text == "yesterday") {
    std::tm tm = local_tm(now_unix);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (text == "yesterday") tm.tm_mday -= 1;
    tm.tm_isdst = -1;
    return static_cast<std::int64_t>(std::mktime(&tm));
  }
  if (text.size() >= 3 && text[0] == '-') {
    const std::string digits = text.substr(1, text.size() - 2);
    if (digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const std::int64_t n = std::stoll(digits);
    switch (text.back()) {
      case 's':
        return now_unix - n;
      case 'm':
        return now_unix - n * 60;
      case 'h':
        return now_unix - n * 3600;
      case 'd':
        return now_unix - n * 86400;
      default:
        return std::nullopt;
    }
  }
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  char sep = 0;
  char zone = 0;
  int used = 0;
  const int got = std::sscanf(text.c_str(), "%4d-%2d-%2d%n%c%2d:%2d%n", &year, &mon, &day, &used,
                              &sep, &hour, &min, &used);
  if (got == 3 && static_cast<std::size_t>(used) == text.size()) {
    // a date alone
  } else if (got == 6 && (sep == ' ' || sep == 'T')) {
    std::size_t at = static_cast<std::size_t>(used);
    if (at < text.size() && text[at] == ':') {
      int more = 0;
      if (std::sscanf(text.c_str() + at, ":%2d%n", &sec, &more) != 1) return std::nullopt;
      at += static_cast<std::size_t>(more);
    }
    if (at < text.size()) zone = text[at++];
    if (at != text.size() || (zone != 0 && zone != 'Z')) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(zone == 'Z' ? ::timegm(&tm) : std::mktime(&tm));
}

}  // namespace tlsrelay::proxy

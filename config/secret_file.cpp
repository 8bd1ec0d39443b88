#include "config/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/config_error.hpp"

namespace tlsrelay::config {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 * 1024;

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string read_secret(const std::string& path) {
  const std::string what = "secret file " + path;
  // Check the file we opened, not the name: between a stat() and an open() the name could
  // be swapped for another file.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) throw ConfigError("cannot open " + what + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw ConfigError("cannot stat " + what + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw ConfigError(what + " is not a regular file");
  // A secret others can read may already be leaked; one others can write may be swapped.
  // Refuse both rather than spread it further (Postfix's rule for its password tables).
  if (st.st_mode & (S_IRGRP | S_IROTH)) {
    throw ConfigError(what + " is readable by group or others (mode " + octal_mode(st.st_mode) +
                      "); chmod 600 it");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    throw ConfigError(what + " is writable or executable by group or others (mode " +
                      octal_mode(st.st_mode) + "); chmod 600 it");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretBytes) {
    throw ConfigError(what + " is larger than 64 KiB; it should hold one secret");
  }
  std::string content;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ConfigError("cannot read " + what + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > kMaxSecretBytes) {
      throw ConfigError(what + " is larger than 64 KiB; it should hold one secret");
    }
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
    content.pop_back();
  }
  if (content.empty()) throw ConfigError(what + " is empty");
  // A line break or NUL inside would end an AUTH line early and send the rest as a
  // command of its own (SMTP command injection).
  if (content.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw ConfigError(what + " holds more than one line; put only the secret in it");
  }
  return content;
}

}  // namespace tlsrelay::config

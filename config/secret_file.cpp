#include "config/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/unique_fd.hpp"
#include "config/config_error.hpp"

namespace tlsrelay::config {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 * 1024;

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string too_large(const std::string& what, std::size_t max_bytes) {
  return what + " is larger than " + std::to_string(max_bytes / 1024) + " KiB";
}

}  // namespace

std::string read_private_file(const std::string& path, std::string_view kind,
                              std::size_t max_bytes) {
  const std::string what = std::string(kind) + " " + path;
  // Check the file we opened, not the name: between a stat() and an open() the name could
  // be swapped for another file.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) throw ConfigError("cannot open " + what + ": " + std::strerror(errno));
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
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw ConfigError(too_large(what, max_bytes));
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
    if (content.size() > max_bytes) throw ConfigError(too_large(what, max_bytes));
  }
  return content;
}

std::string read_secret(const std::string& path) {
  const std::string what = "secret file " + path;
  std::string content;
  try {
    content = read_private_file(path, "secret file", kMaxSecretBytes);
  } catch (const ConfigError& e) {
    const std::string text = e.what();
    if (text.find(" KiB") == std::string::npos) throw;
    throw ConfigError(text + "; it should hold one secret");
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

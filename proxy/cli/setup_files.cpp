#include "proxy/cli/setup_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/unique_fd.hpp"

namespace tlsrelay::proxy {

namespace {

std::string why(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string read_fd(int fd, const std::string& path) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SetupRefusal(why("cannot read", path));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string temp_name(const std::string& path) {
  return path + ".tlsrelay-setup." + std::to_string(::getpid());
}

}  // namespace

std::string read_whole_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw SetupRefusal(why("cannot read", path));
  return read_fd(fd.get(), path);
}

std::optional<std::string> read_file_if_any(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::nullopt;
    throw SetupRefusal(why("cannot read", path));
  }
  return read_fd(fd.get(), path);
}

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode,
                       std::optional<FileOwner> owner) {
  const std::string tmp = temp_name(path);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) throw SetupRefusal(why("cannot create", tmp));
  // Owner and mode before the content: a secret is never readable by anyone else, not even
  // for a moment.
  bool ok =
      (!owner || ::fchown(fd.get(), owner->uid, owner->gid) == 0) && ::fchmod(fd.get(), mode) == 0;
  for (std::size_t done = 0; ok && done < content.size();) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      ok = false;
    else
      done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd.get()) == 0;
  const int saved = errno;
  fd.reset();
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = ok ? errno : saved;
    ::unlink(tmp.c_str());
    errno = e;
    throw SetupRefusal(why("cannot write", path));
  }
}

void restore_file(const std::string& path, const std::string& content, mode_t mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    write_file_atomic(path, content, st.st_mode & 07777, FileOwner{st.st_uid, st.st_gid});
  } else {
    write_file_atomic(path, content, mode);
  }
}

void copy_file_into(const std::string& from, const std::string& to_dir, const std::string& name) {
  UniqueFd fd(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw SetupRefusal(why("cannot read", from));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw SetupRefusal(why("cannot read", from));
  write_file_atomic(to_dir + "/" + name, read_fd(fd.get(), from), st.st_mode & 07777);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  const std::string text = read_file_if_any(path).value_or("");
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find('\n', at), text.size());
    const std::string line = text.substr(at, end - at);
    const auto begin = line.find_first_not_of(" \t\r");
    if (begin != std::string::npos) {
      lines.push_back(line.substr(begin, line.find_last_not_of(" \t\r") - begin + 1));
    }
    at = end + 1;
  }
  return lines;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void make_directory(const std::string& path, mode_t mode) {
  if (file_exists(path)) return;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec || ::chmod(path.c_str(), mode) != 0) {
    throw SetupRefusal("cannot create the directory " + path + ": " +
                       (ec ? ec.message() : std::strerror(errno)));
  }
}

}  // namespace tlsrelay::proxy

#include "proxy/server/replay_buffer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tlsrelay::proxy {

ReplayBuffer::ReplayBuffer(std::uint64_t memory_limit) : memory_limit_(memory_limit) {}

ReplayBuffer::~ReplayBuffer() {
  if (fd_ >= 0) ::close(fd_);
}

void ReplayBuffer::fail(const std::string& what, int error) {
  error_ = what + ": " + std::strerror(error);
  memory_.clear();
  memory_.shrink_to_fit();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void ReplayBuffer::append(std::string_view bytes) {
  if (!usable() || bytes.empty()) return;
  size_ += bytes.size();
  if (fd_ < 0 && size_ <= memory_limit_) {
    memory_.append(bytes);
    return;
  }
  if (fd_ < 0) spill();
  if (usable()) write_all(bytes);
}

void ReplayBuffer::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;  // 0: the file system took nothing
      fail("cannot write the replay file", error);
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void ReplayBuffer::spill() {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  // Unnamed from the start: nothing to clean up, and nothing another user could open.
  fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int error = errno;
    fail("cannot create a replay file in " + dir, error);
    return;
  }
  write_all(memory_);
  if (!usable()) return;  // fail() has already let the memory go
  memory_.clear();
  memory_.shrink_to_fit();
}

std::string ReplayBuffer::read(std::uint64_t offset, std::size_t max) {
  if (!usable() || offset >= size_) return {};
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max, size_ - offset));
  if (fd_ < 0) return memory_.substr(static_cast<std::size_t>(offset), n);
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int error = r < 0 ? errno : EIO;  // EOF: shorter than what was written to it
      fail("cannot read the replay file", error);
      return {};
    }
    got += static_cast<std::size_t>(r);
  }
  return out;
}

void ReplayBuffer::clear() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  memory_.clear();
  if (memory_.capacity() > memory_limit_) memory_.shrink_to_fit();
  size_ = 0;
  error_.clear();
}

}  // namespace tlsrelay::proxy

// The message data of one transaction as it went to the upstream, kept until the final
// reply so that an upstream lost before our final dot can be replaced mid-transaction
// (server_session_replay.cpp): our own octets after the trace headers, dot-stuffed, without the
// terminating ".". In memory up to a bound ([proxy] replay_memory_bytes), then in an
// unnamed temporary file (O_TMPFILE in $TMPDIR or /tmp: it has no name, so it goes with
// its descriptor, also when the daemon is killed). Memory per session stays bounded
// whatever the message size.
//
// A file error makes the buffer unusable (no replay for this message), never the
// transaction fail; error() says why. File I/O blocks the caller: writes of at most one
// data flush (64 KiB) into the page cache. Not thread-safe: owned by one session.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tlsrelay::proxy {

class ReplayBuffer {
 public:
  explicit ReplayBuffer(std::uint64_t memory_limit);
  ~ReplayBuffer();
  ReplayBuffer(const ReplayBuffer&) = delete;
  ReplayBuffer& operator=(const ReplayBuffer&) = delete;

  void append(std::string_view bytes);
  // Up to `max` bytes from `offset`; empty at the end, or on a read error (then unusable).
  std::string read(std::uint64_t offset, std::size_t max);
  // Empty again for the next transaction; the file, if any, is closed (and so gone).
  void clear();

  std::uint64_t size() const { return size_; }
  bool usable() const { return error_.empty(); }
  bool on_disk() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  void spill();
  // Every byte to the file, or fail() (the buffer is then unusable).
  void write_all(std::string_view bytes);
  void fail(const std::string& what, int error);

  std::uint64_t memory_limit_;
  std::string memory_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string error_;
};

}  // namespace tlsrelay::proxy

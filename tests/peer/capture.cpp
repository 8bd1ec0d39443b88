#include "capture.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tlsrelay::testpeer {

Capture::Capture(const std::string& path) : file_(std::fopen(path.c_str(), "ab")) {
  if (file_ == nullptr)
    throw std::runtime_error("cannot open capture file " + path + ": " + std::strerror(errno));
}

Capture::~Capture() {
  std::fclose(file_);
}

void Capture::begin_connection(unsigned long id, std::string_view peer) {
  std::lock_guard lock(mutex_);
  std::fprintf(file_, "=== tlsrelay-testpeer connection %lu from %.*s ===\n", id,
               static_cast<int>(peer.size()), peer.data());
  std::fflush(file_);
}

void Capture::note(unsigned long id, std::string_view event) {
  std::lock_guard lock(mutex_);
  std::fprintf(file_, "=== tlsrelay-testpeer connection %lu %.*s ===\n", id,
               static_cast<int>(event.size()), event.data());
  std::fflush(file_);
}

void Capture::append(std::string_view bytes) {
  std::lock_guard lock(mutex_);
  std::fwrite(bytes.data(), 1, bytes.size(), file_);
  // Flushed per chunk: a test reads the file while the peer is still running.
  std::fflush(file_);
}

}  // namespace tlsrelay::testpeer

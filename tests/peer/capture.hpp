// --capture FILE: appends every plaintext byte the peer receives from clients (before TLS,
// and the decrypted dialogue after it) to a file, with a header line per connection, so a
// test can assert on exactly what the relay sent.
// Limits: chunks of concurrent connections interleave (each chunk stays whole); the TLS
// records themselves are not captured. Thread-safety: all members may be called from any
// thread.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

class Capture {
 public:
  // Throws std::runtime_error when the file cannot be opened for appending.
  explicit Capture(const std::string& path);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  void begin_connection(unsigned long id, std::string_view peer);
  void note(unsigned long id, std::string_view event);
  void append(std::string_view bytes);

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
};

}  // namespace tlsrelay::testpeer

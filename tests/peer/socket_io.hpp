// Blocking socket primitives shared by the SMTP session and the raw TLS tricks: write all,
// read exactly, wait for the client to go away, and the two ways of closing (FIN or RST).
// Limits: every call relies on the SO_RCVTIMEO/SO_SNDTIMEO deadlines set on the socket by
// set_deadlines(); a timed-out read reports IoStatus::Timeout. Thread-safety: per socket,
// one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

enum class IoStatus { Ok, Closed, Timeout, Error };
std::string_view to_string(IoStatus status);

// Applies one idle deadline to every later read and write on fd.
void set_deadlines(int fd, std::chrono::seconds timeout);

// send() until everything is out, in as few calls as the kernel allows.
IoStatus send_all(int fd, std::string_view bytes);

// Reads exactly n bytes, appending to out (what did arrive stays in out on failure).
IoStatus recv_exact(int fd, std::size_t n, std::string& out);

// Reads and discards until the client closes or the deadline passes; returns bytes seen.
std::size_t drain_until_closed(int fd);

// A normal close: FIN first, then a short drain so unread input does not turn it into RST.
void close_gracefully(int fd);

// An abortive close: SO_LINGER {1, 0} makes close() send RST instead of FIN.
void reset_connection(int fd);

}  // namespace tlsrelay::testpeer

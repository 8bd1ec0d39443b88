// Listening addresses for the test peer: parses "ADDR:PORT" / "[V6]:PORT" and opens a bound
// TCP or UDP socket on it.
// Limits: numeric addresses only (no name resolution: the tests run without DNS).
// Thread-safety: free functions without shared state.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "127.0.0.1:25", "[::1]:0"; nullopt when the text is not a numeric address with a port.
std::optional<Endpoint> parse_endpoint(std::string_view text);

enum class SocketKind { Tcp, Udp };

// Opens, binds (and for TCP, listens on) a socket; throws std::runtime_error on failure.
int open_bound_socket(const Endpoint& endpoint, SocketKind kind);

// The port a bound socket actually got (the answer to binding port 0).
int local_port(int fd);

// "127.0.0.1:40312" / "[::1]:40312" for a peer address.
std::string to_string(const sockaddr_storage& addr);

}  // namespace tlsrelay::testpeer

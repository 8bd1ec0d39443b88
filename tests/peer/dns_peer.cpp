#include "dns_peer.hpp"

#include "log.hpp"
#include "shutdown_watch.hpp"
#include "socket_io.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace tlsrelay::testpeer {

namespace {

// RFC 6891 6.2.5: nothing larger arrives over UDP in practice; bigger datagrams are cut.
constexpr std::size_t kMaxDatagram = 4096;
// While one TCP client is served, UDP waits: a stalled client costs at most this, per read.
constexpr std::chrono::seconds kTcpIdleTimeout{3};
// Queries on one TCP connection (RFC 7766 6.2.1 lets a client send several); the bound keeps
// a chatty client from starving the UDP socket.
constexpr int kTcpQueriesPerConnection = 16;
// Binding port 0 gives a UDP port whose TCP twin may be taken; try a few fresh ports.
constexpr int kBindAttempts = 20;

struct Sockets {
  int udp = -1;
  int tcp = -1;  // -1 with --no-tcp
  int port = 0;
};

in_port_t& port_field(Endpoint& endpoint) {
  if (endpoint.addr.ss_family == AF_INET)
    return reinterpret_cast<sockaddr_in*>(&endpoint.addr)->sin_port;
  return reinterpret_cast<sockaddr_in6*>(&endpoint.addr)->sin6_port;
}

// glibc's stub retries a truncated answer over TCP to the same address and port, so both
// sockets share one port (RFC 7766 5: TCP is mandatory for a DNS server).
Sockets open_sockets(const DnsPeerOptions& options) {
  for (int attempt = 1;; ++attempt) {
    Sockets sockets;
    sockets.udp = open_bound_socket(options.listen, SocketKind::Udp);
    sockets.port = local_port(sockets.udp);
    if (!options.tcp) return sockets;
    Endpoint tcp_endpoint = options.listen;
    const bool any_port = port_field(tcp_endpoint) == 0;
    port_field(tcp_endpoint) = htons(static_cast<in_port_t>(sockets.port));
    try {
      sockets.tcp = open_bound_socket(tcp_endpoint, SocketKind::Tcp);
      return sockets;
    } catch (const std::runtime_error&) {
      ::close(sockets.udp);
      if (!any_port || attempt == kBindAttempts) throw;
    }
  }
}

// The answer to one message, from either transport; nullopt when it is dropped.
std::optional<std::string> answer_message(const DnsZone& zone, std::string_view packet,
                                          const std::string& peer, DnsTransport transport) {
  const char* protocol = transport == DnsTransport::Tcp ? "tcp" : "udp";
  const DnsParse parsed = parse_dns_query(packet);
  if (parsed.outcome == DnsParse::Outcome::Ignore) {
    log_event(std::string("event=dropped protocol=") + protocol + " from=" + peer +
              " bytes=" + std::to_string(packet.size()) + " reason=" + quote(parsed.reason));
    return std::nullopt;
  }
  if (parsed.outcome == DnsParse::Outcome::Reply) {
    log_event(std::string("event=bad-query protocol=") + protocol + " from=" + peer +
              " reason=" + quote(parsed.reason));
    return parsed.error_reply;
  }
  const DnsQuery& query = parsed.query;
  const DnsName name = lower_labels(query.labels);
  DnsZone::Answer found;
  if (query.qclass != dns::kClassIn && query.qclass != dns::kClassAny)
    found.rcode = dns::Refused;
  else
    found = zone.lookup(name, query.qtype);
  log_event(std::string("event=query protocol=") + protocol + " from=" + peer +
            " name=" + quote(to_string(name)) + " type=" + dns_type_name(query.qtype) + " rcode=" +
            dns_rcode_name(found.rcode) + " answers=" + std::to_string(found.records.size()) +
            " ad=" + (found.authentic ? "1" : "0"));
  return build_dns_response(query, found.rcode, found.records,
                            {.transport = transport, .authentic_data = found.authentic});
}

void serve_udp(const DnsZone& zone, int fd) {
  char buf[kMaxDatagram];
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  const ssize_t n =
      ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n < 0) {
    if (errno != EINTR && errno != EAGAIN)
      log_event(std::string("event=recv-failed error=") + std::strerror(errno));
    return;
  }
  const auto response = answer_message(zone, std::string_view(buf, static_cast<std::size_t>(n)),
                                       to_string(from), DnsTransport::Udp);
  if (!response) return;
  if (::sendto(fd, response->data(), response->size(), 0, reinterpret_cast<sockaddr*>(&from),
               from_len) < 0)
    log_event(std::string("event=send-failed error=") + std::strerror(errno));
}

// RFC 1035 4.2.2 / RFC 7766 8: each message behind a two-octet length, answered in order
// until the client closes, stalls, or sends something we drop.
void serve_tcp_connection(const DnsZone& zone, int fd, const std::string& peer) {
  set_deadlines(fd, kTcpIdleTimeout);
  std::string end = "limit";
  for (int queries = 0; queries < kTcpQueriesPerConnection; ++queries) {
    std::string prefix, message;
    IoStatus status = recv_exact(fd, 2, prefix);
    if (status == IoStatus::Ok) {
      const std::size_t length = static_cast<std::size_t>(
          static_cast<unsigned char>(prefix[0]) << 8 | static_cast<unsigned char>(prefix[1]));
      status = recv_exact(fd, length, message);
    }
    if (status != IoStatus::Ok) {
      end = std::string(to_string(status));
      break;
    }
    const auto response = answer_message(zone, message, peer, DnsTransport::Tcp);
    if (!response) {
      end = "dropped";
      break;
    }
    status = send_all(fd, frame_for_tcp(*response));
    if (status != IoStatus::Ok) {
      end = "send-" + std::string(to_string(status));
      break;
    }
  }
  log_event("event=tcp-closed from=" + peer + " reason=" + end);
  // No graceful drain: the client has closed already, or is cut off on purpose, and every
  // moment spent here keeps the UDP socket waiting.
  ::close(fd);
}

void serve_tcp(const DnsZone& zone, int listener) {
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      log_event(std::string("event=accept-failed error=") + std::strerror(errno));
    return;
  }
  serve_tcp_connection(zone, fd, to_string(from));
}

}  // namespace

int run_dns_peer(const DnsPeerOptions& options) {
  ShutdownWatch watch(options.watch_stdin);
  const Sockets sockets = open_sockets(options);
  log_event("event=listening protocol=dns address=" + options.listen_text +
            " port=" + std::to_string(sockets.port) + " tcp=" + (options.tcp ? "1" : "0"));
  std::printf("ready %d\n", sockets.port);
  std::fflush(stdout);

  const int fds[] = {sockets.udp, sockets.tcp};
  const std::size_t count = options.tcp ? 2 : 1;
  std::size_t ready = 0;
  while (watch.wait_readable(std::span<const int>(fds, count), ready) ==
         ShutdownWatch::Wake::Readable) {
    if (ready == 0)
      serve_udp(options.zone, sockets.udp);
    else
      serve_tcp(options.zone, sockets.tcp);
  }
  log_event("event=stopping reason=" + watch.reason());
  ::close(sockets.udp);
  if (sockets.tcp >= 0) ::close(sockets.tcp);
  log_event("event=stopped");
  return 0;
}

}  // namespace tlsrelay::testpeer

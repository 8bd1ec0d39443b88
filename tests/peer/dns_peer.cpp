#include "dns_peer.hpp"

#include "log.hpp"
#include "shutdown_watch.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tlsrelay::testpeer {

namespace {

// RFC 6891 6.2.5: nothing larger arrives over UDP in practice; bigger datagrams are cut.
constexpr std::size_t kMaxDatagram = 4096;

}  // namespace

int run_dns_peer(const DnsPeerOptions& options) {
  ShutdownWatch watch(options.watch_stdin);
  const int fd = open_bound_socket(options.listen, SocketKind::Udp);
  const int port = local_port(fd);
  log_event("event=listening protocol=dns address=" + options.listen_text +
            " port=" + std::to_string(port));
  std::printf("ready %d\n", port);
  std::fflush(stdout);

  char buf[kMaxDatagram];
  while (watch.wait_readable(fd) == ShutdownWatch::Wake::Readable) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN)
        log_event(std::string("event=recv-failed error=") + std::strerror(errno));
      continue;
    }
    const std::string peer = to_string(from);
    const DnsParse parsed = parse_dns_query(std::string_view(buf, static_cast<std::size_t>(n)));
    std::string response;
    if (parsed.outcome == DnsParse::Outcome::Ignore) {
      log_event("event=dropped from=" + peer + " bytes=" + std::to_string(n) +
                " reason=" + quote(parsed.reason));
      continue;
    }
    if (parsed.outcome == DnsParse::Outcome::Reply) {
      response = parsed.error_reply;
      log_event("event=bad-query from=" + peer + " reason=" + quote(parsed.reason));
    } else {
      const DnsQuery& query = parsed.query;
      const DnsName name = lower_labels(query.labels);
      DnsZone::Answer answer;
      if (query.qclass != dns::kClassIn && query.qclass != dns::kClassAny)
        answer.rcode = dns::Refused;
      else
        answer = options.zone.lookup(name, query.qtype);
      response = build_dns_response(query, answer.rcode, answer.records);
      log_event("event=query from=" + peer + " name=" + quote(to_string(name)) +
                " type=" + dns_type_name(query.qtype) + " rcode=" + dns_rcode_name(answer.rcode) +
                " answers=" + std::to_string(answer.records.size()));
    }
    if (::sendto(fd, response.data(), response.size(), 0, reinterpret_cast<sockaddr*>(&from),
                 from_len) < 0)
      log_event(std::string("event=send-failed error=") + std::strerror(errno));
  }
  log_event("event=stopping reason=" + watch.reason());
  ::close(fd);
  log_event("event=stopped");
  return 0;
}

}  // namespace tlsrelay::testpeer

#include "tls/resolver.hpp"

#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

namespace tlsrelay::tls {

namespace asio = boost::asio;

namespace {

// What the DNS itself says about the name, when getaddrinfo only said "no such name".
ResolveResult::Status query_rcode(const std::string& host, std::string& detail) {
  struct __res_state state;
  std::memset(&state, 0, sizeof state);
  if (res_ninit(&state) != 0) {
    detail = "cannot initialise the resolver (res_ninit)";
    return ResolveResult::Status::Failure;
  }
  unsigned char answer[512];
  ResolveResult::Status status = ResolveResult::Status::NoAddress;
  for (int type : {ns_t_a, ns_t_aaaa}) {
    int n = res_nquery(&state, host.c_str(), ns_c_in, type, answer, sizeof answer);
    if (n >= 0) continue;  // NOERROR: then it was NODATA for the A/AAAA we wanted
    if (state.res_h_errno == HOST_NOT_FOUND) {
      status = ResolveResult::Status::NxDomain;
      break;
    }
    if (state.res_h_errno == TRY_AGAIN || state.res_h_errno == NO_RECOVERY) {
      detail = "DNS query failed (SERVFAIL or no answer)";
      status = ResolveResult::Status::Failure;
      break;
    }
  }
  res_nclose(&state);
  return status;
}

asio::thread_pool& pool() {
  static asio::thread_pool p(2);
  return p;
}

}  // namespace

ResolveResult resolve_host_blocking(const std::string& host) {
  ResolveResult r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // No AI_ADDRCONFIG: it ignores loopback-only hosts and network namespaces. glibc already
  // sorts unreachable families last (RFC 6724), and the first family it returns leads.
  addrinfo* list = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc == 0) {
    std::vector<asio::ip::address> v6, v4;
    const bool six_first = list->ai_family == AF_INET6;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET6) {
        auto* sa = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &sa->sin6_addr, 16);
        asio::ip::address a = asio::ip::address_v6(b, sa->sin6_scope_id);
        if (std::find(v6.begin(), v6.end(), a) == v6.end()) v6.push_back(a);
      } else if (ai->ai_family == AF_INET) {
        auto* sa = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), &sa->sin_addr, 4);
        asio::ip::address a = asio::ip::address_v4(b);
        if (std::find(v4.begin(), v4.end(), a) == v4.end()) v4.push_back(a);
      }
    }
    freeaddrinfo(list);
    // Alternate the families (RFC 8305 4) so a broken IPv6 path costs one try, not all.
    for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
      if (six_first && i < v6.size()) r.addresses.push_back(v6[i]);
      if (i < v4.size()) r.addresses.push_back(v4[i]);
      if (!six_first && i < v6.size()) r.addresses.push_back(v6[i]);
    }
    r.status = r.addresses.empty() ? ResolveResult::Status::NoAddress : ResolveResult::Status::Ok;
    return r;
  }
  r.detail = std::string("getaddrinfo: ") + gai_strerror(rc);
  switch (rc) {
    case EAI_NONAME:
      r.status = query_rcode(host, r.detail);
      break;
#ifdef EAI_NODATA
    case EAI_NODATA:
      r.status = ResolveResult::Status::NoAddress;
      break;
#endif
    default:
      r.status = ResolveResult::Status::Failure;
      break;
  }
  return r;
}

asio::awaitable<ResolveResult> resolve_host(std::string host) {
  // Hand the blocking call to the pool and complete on the awaiting coroutine's executor.
  // (A plain callback, not a lambda coroutine: g++ 12 mis-copies the captures of those.)
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(ResolveResult)>(
      [](auto handler, std::string name) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool(), [handler = std::move(handler), name = std::move(name),
                            work = std::move(work)]() mutable {
          ResolveResult r = resolve_host_blocking(name);
          auto ex = work.get_executor();
          asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(host));
}

}  // namespace tlsrelay::tls

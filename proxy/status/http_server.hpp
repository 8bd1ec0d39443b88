// A small HTTP/1.1 server on Boost.Beast for the relay's own pages (/metrics, /status, /).
// Transport only: what a path returns is the Handler's business (proxy/status/status_routes.hpp).
// Every request, whatever its path, must name this server in Host (proxy/status/http_host.hpp,
// DNS rebinding): otherwise 403 (400 without a usable Host) with no body, and the
// connection is closed.
//
// Limits: GET and HEAD only, 8 KiB of request head, no request body, 10 s per request,
// at most kMaxConnections at once (more are closed at accept). Runs on the io_context it is
// given (the relay's home thread); the handler is called there and reads what other
// threads share through their own locks (Telemetry::read).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <optional>
#include <string>

#include "config/ip_address.hpp"
#include "proxy/status/http_host.hpp"

namespace tlsrelay::proxy {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  static constexpr std::size_t kMaxConnections = 64;
  using Handler = std::function<HttpResponse(const std::string& path)>;

  HttpServer(boost::asio::io_context& io, Handler handler, HostAllowList hosts);
  // Binds and starts accepting; returns the bound endpoint (port 0 picks one).
  boost::asio::ip::tcp::endpoint start(const boost::asio::ip::tcp::endpoint& where);
  void stop();
  // A reload's [http] allowed_hosts; requests read after this call are checked against it.
  void set_allowed_hosts(HostAllowList hosts) { hosts_ = std::move(hosts); }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  Handler handler_;
  HostAllowList hosts_;
  std::optional<config::IpAddress> listen_address_;  // as bound (a wildcard, maybe)
  boost::asio::ip::tcp::acceptor acceptor_;
  std::size_t connections_ = 0;
};

}  // namespace tlsrelay::proxy

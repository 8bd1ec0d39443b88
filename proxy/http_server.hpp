// A small HTTP/1.1 server on Boost.Beast for the relay's own pages (/metrics, /status, /).
// Transport only: what a path returns is the Handler's business (proxy/status_routes.hpp).
//
// Limits: GET and HEAD only, 8 KiB of request head, no request body, 10 s per request,
// at most kMaxConnections at once (more are closed at accept). Runs on the io_context it is
// given (the relay's single thread); the handler is called there.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

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

  HttpServer(boost::asio::io_context& io, Handler handler);
  // Binds and starts accepting; returns the bound endpoint (port 0 picks one).
  boost::asio::ip::tcp::endpoint start(const boost::asio::ip::tcp::endpoint& where);
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  Handler handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::size_t connections_ = 0;
};

}  // namespace tlsrelay::proxy

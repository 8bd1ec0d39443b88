#include "proxy/status/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <string_view>
#include <vector>

namespace tlsrelay::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxRequestHead = 8 * 1024;

}  // namespace

HttpServer::HttpServer(asio::io_context& io, Handler handler, HostAllowList hosts)
    : io_(io), handler_(std::move(handler)), hosts_(std::move(hosts)), acceptor_(io) {}

tcp::endpoint HttpServer::start(const tcp::endpoint& where) {
  acceptor_.open(where.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (where.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true));
  acceptor_.bind(where);
  acceptor_.listen();
  listen_address_ = config::parse_ip_address(where.address().to_string());
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return acceptor_.local_endpoint();
}

void HttpServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> HttpServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      asio::steady_timer pause(acceptor_.get_executor());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (connections_ >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++connections_;
    asio::co_spawn(io_, serve(std::move(socket)), [this](std::exception_ptr) { --connections_; });
  }
}

asio::awaitable<void> HttpServer::serve(tcp::socket socket) {
  // Our own addresses as a Host may name them: the listen address literal and, when that is
  // a wildcard, the address this connection arrived at.
  std::vector<config::IpAddress> own;
  if (listen_address_) own.push_back(*listen_address_);
  boost::system::error_code local_ec;
  const auto local = socket.local_endpoint(local_ec);
  if (!local_ec) {
    if (auto a = config::parse_ip_address(local.address().to_string())) own.push_back(*a);
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(kMaxRequestHead);
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxRequestHead);
    parser.body_limit(0);
    stream.expires_after(kRequestTimeout);
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "tlsrelay");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    std::vector<std::string_view> hosts;
    for (auto [f, end] = req.equal_range(http::field::host); f != end; ++f) {
      hosts.push_back(f->value());
    }
    if (const HostVerdict v = hosts_.check(req.version(), hosts, own); v != HostVerdict::Allowed) {
      // Checked before the method and the path: a rebinding page learns nothing, not even
      // which paths exist.
      res.result(v == HostVerdict::Forbidden ? http::status::forbidden : http::status::bad_request);
      res.keep_alive(false);
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "only GET and HEAD\n";
    } else {
      std::string path(req.target());
      if (auto q = path.find('?'); q != std::string::npos) path.erase(q);
      HttpResponse r = handler_(path);
      res.result(static_cast<http::status>(r.status));
      res.set(http::field::content_type, r.content_type);
      if (r.content_type.starts_with("text/html")) {
        // The page shows text that upstream servers chose (certificate names, replies);
        // it is inserted as text only, and this keeps anything else from running.
        res.set("Content-Security-Policy",
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                "connect-src 'self'; img-src data:; frame-ancestors 'none'");
      }
      res.body() = std::move(r.body);
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(kRequestTimeout);
    const bool keep = res.keep_alive();
    auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !keep) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace tlsrelay::proxy

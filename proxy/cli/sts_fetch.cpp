#include "proxy/cli/sts_fetch.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/cli/mta_sts.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto kStsUse = asio::as_tuple(asio::use_awaitable);

std::string verify_text(long result) {
  return X509_verify_cert_error_string(result);
}

}  // namespace

asio::awaitable<StsFetch> fetch_sts_policy(std::string domain, std::string ca_file,
                                           std::string connect, std::uint16_t port,
                                           std::chrono::milliseconds deadline) {
  StsFetch out;
  const std::string host = "mta-sts." + domain;
  out.url = "https://" + host + (port == 443 ? "" : ":" + std::to_string(port)) +
            "/.well-known/mta-sts.txt";
  auto executor = co_await asio::this_coro::executor;

  // RFC 8461 3.3: the certificate must be valid for the policy host under PKIX; TLS 1.2
  // or later, as the relay itself offers.
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                  asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca_file, ec);
  }
  if (ec) {
    out.error = "cannot load the trust anchors: " + ec.message();
    co_return out;
  }
  ctx.set_verify_mode(asio::ssl::verify_peer);

  asio::ssl::stream<beast::tcp_stream> stream(executor, ctx);
  beast::get_lowest_layer(stream).expires_after(deadline);
  asio::ip::tcp::resolver resolver(executor);
  asio::ip::tcp::resolver::results_type endpoints;
  if (!connect.empty()) {
    endpoints = asio::ip::tcp::resolver::results_type::create(
        asio::ip::tcp::endpoint(asio::ip::make_address(connect, ec), port), host,
        std::to_string(port));
  } else {
    auto [rec, found] = co_await resolver.async_resolve(host, std::to_string(port), kStsUse);
    if (rec) {
      out.error = "cannot resolve " + host + ": " + rec.message();
      co_return out;
    }
    endpoints = std::move(found);
  }
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, kStsUse);
  if (cec) {
    out.error = "cannot connect to " + host + " port " + std::to_string(port) + ": " +
                (cec == beast::error::timeout ? std::string("timed out") : cec.message());
    co_return out;
  }
  out.address = ep.address().to_string();
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  // OpenSSL's own name check: a mismatch is then X509_V_ERR_HOSTNAME_MISMATCH in the
  // verify result, the most common MTA-STS mistake named as such.
  SSL_set_hostflags(stream.native_handle(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(stream.native_handle(), host.c_str()) != 1) {
    out.error = "cannot set the name to verify: " + host;
    co_return out;
  }
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kStsUse);
  if (hec) {
    const long vr = SSL_get_verify_result(stream.native_handle());
    out.error = vr != X509_V_OK
                    ? "the certificate does not verify for " + host + ": " + verify_text(vr)
                    : "TLS handshake failed: " + hec.message();
    co_return out;
  }
  http::request<http::empty_body> req{http::verb::get, "/.well-known/mta-sts.txt", 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "tlsrelay-audit");
  req.set(http::field::connection, "close");
  auto [wec, written] = co_await http::async_write(stream, req, kStsUse);
  (void)written;
  if (wec) {
    out.error = "cannot send the request: " + wec.message();
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kStsPolicyMaxBytes);
  parser.header_limit(16 * 1024);
  auto [rec2, read] = co_await http::async_read(stream, buffer, parser, kStsUse);
  (void)read;
  if (rec2) {
    out.error =
        rec2 == http::error::body_limit
            ? "the policy is larger than " + std::to_string(kStsPolicyMaxBytes) + " bytes"
            : "no complete HTTP response: " +
                  (rec2 == beast::error::timeout ? std::string("timed out") : rec2.message());
    co_return out;
  }
  const auto& res = parser.get();
  out.http_status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = res.body();
  // RFC 8461 3.3: "HTTP 3xx redirects MUST NOT be followed"; only 200 is a policy.
  if (out.http_status != 200) {
    out.error = "HTTP " + std::to_string(out.http_status) +
                (out.http_status / 100 == 3 ? " (a redirect: senders must not follow it)" : "");
    co_return out;
  }
  out.ok = true;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(kStsUse);
  co_return out;
}

}  // namespace tlsrelay::proxy

#include "proxy/server/relay_config.hpp"

#include <atomic>

namespace tlsrelay::proxy {

namespace {

std::chrono::milliseconds ms(config::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

std::shared_ptr<const RelayConfig> make_relay_config(config::Settings s) {
  static std::atomic<std::uint64_t> generations{0};
  auto rc = std::make_shared<RelayConfig>();
  rc->generation = ++generations;
  rc->server.hostname = s.proxy.hostname;
  rc->server.max_message_size = s.proxy.max_message_size;
  rc->server.max_recipients = s.proxy.max_recipients;
  // Fails (naming the key's place) rather than take mail in clear that should be in TLS.
  rc->server_tls = ServerTls::load(s);
  rc->server.starttls = rc->server_tls != nullptr;
  rc->command_timeout = ms(s.proxy.timeouts.command);
  rc->data_block_timeout = ms(s.proxy.timeouts.data_block);
  rc->data_done_timeout = ms(s.proxy.timeouts.data_done);

  rc->routes = make_routes(s, rc->generation);
  rc->settings = std::move(s);
  return rc;
}

}  // namespace tlsrelay::proxy

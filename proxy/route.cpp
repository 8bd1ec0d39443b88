#include "proxy/route.hpp"

#include "config/secret_file.hpp"
#include "proxy/policy.hpp"
#include "tls/attempt_record.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

// Credentials are read from their file at each use, so a rotated password (or a refreshed
// token) takes effect without a reload, and the secret lives in memory only for the attempt.
std::optional<tls::Credentials> credentials(const UpstreamConfig& u, std::string& error) {
  if (!u.auth_user) return std::nullopt;
  try {
    return tls::Credentials{*u.auth_user, config::read_secret(u.password_file)};
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

}  // namespace

asio::awaitable<RouteResult> open_route(std::shared_ptr<const RelayConfig> config, EventLog& events,
                                        std::string transaction_id) {
  RouteResult result;
  int attempts = 0;
  int upstreams_tried = 0;
  for (const UpstreamConfig& u : config->upstreams) {
    ++upstreams_tried;
    ++attempts;
    tls::AttemptOptions opt;
    opt.target = u.target;
    opt.ehlo_name = config->server.hostname;
    opt.phase_timeout = u.phase_timeout;
    std::string secret_error;
    opt.credentials = credentials(u, secret_error);

    tls::AttemptResult attempt;
    if (!secret_error.empty()) {
      attempt.facts.started = std::chrono::system_clock::now();
      attempt.facts.upstream = u.target;
      attempt.facts.phase = tls::Phase::Auth;
      attempt.facts.ending = tls::Ending::LocalSetup;
      attempt.facts.local_detail = secret_error;
    } else {
      attempt = co_await tls::run_attempt(opt, u.context, u.context_error);
    }
    tls::Verdict verdict = tls::classify(attempt.facts);
    auto record = tls::attempt_record(attempt.facts, verdict);
    record["transaction"] = transaction_id;
    record["attempt"] = attempts;
    events.record(record);

    if (attempt.stream) {
      result.session =
          std::make_unique<UpstreamSession>(std::move(attempt.stream), std::move(attempt.facts));
      co_return result;
    }
    result.failures.push_back({attempt.facts, verdict});
  }
  if (result.failures.empty()) {
    result.failure_reply.code = 451;
    result.failure_reply.enhanced = "4.3.5";
    result.failure_reply.lines = {"4.3.5 tlsrelay: no upstream is configured"};
  } else {
    const auto& last = result.failures.back();
    result.failure_reply = deferral_reply(last.facts, last.verdict, attempts, upstreams_tried);
  }
  co_return result;
}

}  // namespace tlsrelay::proxy

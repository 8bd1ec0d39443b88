#include "proxy/cli/route_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <memory>
#include <variant>

#include "common/smtp_reply.hpp"
#include "tls/server_speaks.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> say_quit(tls::SmtpStream& stream) {
  (void)co_await stream.write("QUIT\r\n");
  co_await stream.close();
}

// One command and its whole reply; nullopt when the connection failed or said no SMTP.
asio::awaitable<std::optional<Reply>> command(tls::SmtpStream& stream, std::string line) {
  line += "\r\n";
  if (co_await stream.write(line)) co_return std::nullopt;
  ReplyParser parser;
  std::string text;
  for (;;) {
    if (co_await stream.read_line(text, kMaxReplyLine, true)) co_return std::nullopt;
    const auto status = parser.feed(text);
    if (status == ReplyParser::Status::Complete) co_return parser.take();
    if (status == ReplyParser::Status::NotSmtp) co_return std::nullopt;
  }
}

// MAIL, RCPT, RSET on the open route, never DATA: whether the smarthost would take a
// message from FROM to TO with these credentials (Gmail refuses a FROM the account may not
// send as; a relay refuses a TO it does not relay for).
asio::awaitable<EnvelopeResult> try_envelope(tls::SmtpStream& stream,
                                             std::pair<std::string, std::string> who) {
  EnvelopeResult r;
  const std::string mail = "MAIL FROM:<" + who.first + ">";
  const std::string rcpt = "RCPT TO:<" + who.second + ">";
  bool ok = true;
  for (const std::string& line : {mail, rcpt, std::string("RSET")}) {
    std::optional<Reply> reply = co_await command(stream, line);
    r.steps.emplace_back(line, reply ? reply->first_line() : std::string("(no reply)"));
    if (!reply || reply->code / 100 != 2) {
      ok = false;
      break;
    }
  }
  r.accepted = ok;
  co_return r;
}

}  // namespace

bool RouteProbe::ok(bool envelope_asked) const {
  const bool envelope_ok = !envelope_asked || (envelope && envelope->accepted);
  return verdict.cls == FailureClass::Ok && envelope_ok;
}

RouteProbe probe_route(const tls::AttemptOptions& attempt, const tls::ClientProfile& profile,
                       const std::optional<std::pair<std::string, std::string>>& envelope) {
  std::shared_ptr<tls::ClientContext> ctx;
  std::string ctx_error;
  auto made = tls::ClientContext::create(profile);
  if (auto* p = std::get_if<std::shared_ptr<tls::ClientContext>>(&made)) {
    ctx = *p;
  } else {
    ctx_error = std::get<std::string>(made);
  }

  asio::io_context io;
  auto future = asio::co_spawn(io, tls::run_attempt(attempt, ctx, ctx_error), asio::use_future);
  io.run();
  tls::AttemptResult result = future.get();
  RouteProbe out;
  if (result.stream) {
    if (envelope) {
      auto tried = asio::co_spawn(io, try_envelope(*result.stream, *envelope), asio::use_future);
      io.restart();
      io.run_for(attempt.phase_timeout * 3);
      if (tried.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        out.envelope = tried.get();
      } else {
        out.envelope =
            EnvelopeResult{{{"MAIL FROM:<" + envelope->first + ">", "(no reply in time)"}}, false};
      }
    }
    // Leave politely; the verdict is already decided.
    asio::co_spawn(io, say_quit(*result.stream), asio::detached);
    io.restart();
    io.run_for(std::chrono::seconds(2));
  }
  out.verdict = tls::classify(result.facts);
  out.facts = std::move(result.facts);
  return out;
}

void add_server_speaks_hint(RouteProbe& probe, const tls::AttemptOptions& attempt,
                            const tls::ClientProfile& profile,
                            const std::optional<tls::ClientProfile>& compat) {
  const FailureClass cls = probe.verdict.cls;
  if (cls != FailureClass::TlsProtocolMismatch && cls != FailureClass::TlsNoSharedCipher) return;
  asio::io_context io;
  auto future = asio::co_spawn(
      io, tls::what_server_speaks(attempt, profile, cls, attempt.phase_timeout), asio::use_future);
  io.run();
  const std::string more = tls::follow_up_hint(future.get(), compat);
  // First: where a reply has no room for all of it, the finding is what must survive.
  if (!more.empty())
    probe.verdict.hint = more + (probe.verdict.hint.empty() ? "" : " ") + probe.verdict.hint;
}

}  // namespace tlsrelay::proxy

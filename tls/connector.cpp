#include "tls/connector.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>

#include "common/text.hpp"
#include "tls/awaitable.hpp"
#include "tls/build_info.hpp"
#include "tls/capture.hpp"
#include "tls/deadline.hpp"
#include "tls/errors.hpp"
#include "tls/resolver.hpp"

namespace tlsrelay::tls {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxTranscriptLines = 400;
constexpr std::size_t kMaxTranscriptLine = 512;
constexpr std::size_t kMaxUnparsed = 256;
constexpr auto kImplicitProbeTimeout = std::chrono::seconds(5);

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string keyword_of(const std::string& ext) {
  std::string kw = ext.substr(0, ext.find_first_of(" ="));
  for (auto& c : kw) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return kw;
}

// One attempt's state. Lives in the coroutine frame of run_attempt.
class Attempt {
 public:
  Attempt(asio::any_io_executor ex, AttemptOptions opt, std::shared_ptr<ClientContext> ctx,
          std::string ctx_error)
      : ex_(ex),
        opt_(std::move(opt)),
        ctx_(std::move(ctx)),
        ctx_error_(std::move(ctx_error)),
        stream_(std::make_unique<SmtpStream>(ex)),
        deadline_(ex, stream_->socket()) {
    f_.started = std::chrono::system_clock::now();
    f_.upstream = opt_.target;
    f_.auth_requested = opt_.credentials.has_value();
    f_.build_epoch = kBuildEpochSeconds;
    f_.phase_timeout_s = std::chrono::duration<double>(opt_.phase_timeout).count();
    if (ctx_) {
      f_.ca_file = ctx_->profile().ca_file;
      f_.min_version = ctx_->profile().min_version;
      f_.cipher_list = ctx_->profile().ciphers.empty() ? "DEFAULT" : ctx_->profile().ciphers;
      f_.security_level = ctx_->profile().security_level;
    }
    t0_ = std::chrono::steady_clock::now();
  }

  asio::awaitable<AttemptResult> run() {
    const bool ok = co_await run_phases();
    deadline_.disarm();
    f_.timings.total = ms_since(t0_);
    if (ok) {
      f_.phase = Phase::None;
      f_.ending = Ending::Ok;
    } else if (stream_ && stream_->socket().is_open()) {
      co_await stream_->close();
    }
    AttemptResult r;
    r.facts = std::move(f_);
    if (ok) {
      if (stream_->tls()) HandshakeCapture::detach(stream_->tls()->ssl());
      r.stream = std::move(stream_);
    }
    co_return r;
  }

 private:
  // ---- bookkeeping -----------------------------------------------------------------------

  static double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  }

  void enter(Phase p) {
    f_.phase = p;
    phase_start_ = std::chrono::steady_clock::now();
    phase_bytes_ = stream_->raw_bytes_received();
    deadline_.arm(opt_.phase_timeout);
  }

  // Adds the phase's duration to its timing slot (EHLO before and after TLS add up).
  void leave(std::optional<double>& slot) {
    deadline_.disarm();
    slot = slot.value_or(0.0) + ms_since(phase_start_);
  }

  bool fail(Ending e) {
    deadline_.disarm();
    f_.ending = e;
    f_.network.bytes_received_in_phase = stream_->raw_bytes_received() - phase_bytes_;
    return false;
  }

  bool fail_io(const error_code& ec) {
    if (deadline_.expired()) return fail(Ending::TimedOut);
    if (ec == asio::error::eof || ec == Errc::TlsClosed) return fail(Ending::PeerClosed);
    if (ec == Errc::TlsFailure) return fail(Ending::TlsFailed);
    if (ec == Errc::NotSmtp || ec == Errc::LineTooLong) {
      f_.smtp.unparsed = stream_->buffered().substr(0, kMaxUnparsed);
      if (ec == Errc::LineTooLong) {
        f_.smtp.limit_exceeded =
            "a reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
      }
      return fail(Ending::NotSmtp);
    }
    if (ec.category() == boost::system::system_category()) f_.network.errno_value = ec.value();
    return fail(Ending::SocketError);
  }

  void transcript(std::string_view who, std::string_view line) {
    if (f_.smtp.transcript.size() >= kMaxTranscriptLines) return;
    f_.smtp.transcript.push_back(std::string(who) + printable(line, kMaxTranscriptLine));
  }

  // ---- SMTP I/O ----------------------------------------------------------------------------

  // Callers pass named strings moved in, never temporaries: g++ 12 mis-copies class prvalues
  // passed into a coroutine.
  asio::awaitable<bool> send(std::string line, const char* shown = nullptr) {
    transcript("C: ", shown ? std::string_view(shown) : std::string_view(line));
    std::string wire = std::move(line);
    wire += "\r\n";
    if (auto ec = co_await stream_->write(wire)) co_return fail_io(ec);
    co_return true;
  }

  // Reads one whole reply; on failure the attempt's ending is set.
  asio::awaitable<std::optional<Reply>> read_reply() {
    ReplyParser parser;
    std::string line;
    for (;;) {
      if (auto ec = co_await stream_->read_line(line, kMaxReplyLine, true)) {
        fail_io(ec);
        co_return std::nullopt;
      }
      transcript("S: ", line);
      switch (parser.feed(line)) {
        case ReplyParser::Status::NeedMore:
          continue;
        case ReplyParser::Status::Complete: {
          Reply r = parser.take();
          f_.smtp.last_reply = r;
          co_return r;
        }
        case ReplyParser::Status::NotSmtp:
          f_.smtp.unparsed = line.substr(0, kMaxUnparsed);
          if (parser.error().rfind("reply has more than", 0) == 0) {
            f_.smtp.limit_exceeded =
                "a reply of more than " + std::to_string(kMaxReplyLines) + " lines";
          } else if (parser.error().rfind("reply line longer than", 0) == 0) {
            f_.smtp.limit_exceeded =
                "a reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
          }
          fail(Ending::NotSmtp);
          co_return std::nullopt;
      }
    }
  }

  // ---- phases ------------------------------------------------------------------------------

  asio::awaitable<bool> run_phases() {
    const TlsMode mode = opt_.target.tls_mode;
    if (mode != TlsMode::None && !ctx_) {
      f_.phase = Phase::TlsHandshake;
      f_.local_detail = ctx_error_.empty() ? "no TLS context" : ctx_error_;
      co_return fail(Ending::LocalSetup);
    }
    if (!co_await dns()) co_return false;
    if (!co_await connect()) co_return false;
    if (mode == TlsMode::Implicit) {
      if (!co_await handshake()) co_return false;
      first_read_after_tls_ = true;
    }
    if (!co_await banner()) co_return false;
    if (!co_await ehlo()) co_return false;
    if (mode == TlsMode::Starttls) {
      if (!co_await starttls()) co_return false;
      if (!co_await handshake()) co_return false;
      first_read_after_tls_ = true;
      if (!co_await ehlo()) co_return false;
    }
    if (opt_.credentials) {
      if (!co_await auth()) co_return false;
    }
    co_return true;
  }

  asio::awaitable<bool> dns() {
    const auto& t = opt_.target;
    error_code ec;
    if (!t.connect_address.empty()) {
      address_ = asio::ip::make_address(t.connect_address, ec);
      if (ec) {
        f_.phase = Phase::Dns;
        f_.local_detail = "connect address \"" + t.connect_address + "\" is not an IP address";
        co_return fail(Ending::LocalSetup);
      }
      f_.network.addresses = {address_.to_string()};
      co_return true;
    }
    address_ = asio::ip::make_address(t.host, ec);
    if (!ec) {
      f_.network.addresses = {address_.to_string()};
      co_return true;
    }
    enter(Phase::Dns);
    deadline_.disarm();  // getaddrinfo has its own time-outs (resolv.conf)
    ResolveResult r = co_await resolve_host(t.host);
    leave(f_.timings.dns);
    f_.network.resolver_detail = r.detail;
    for (const auto& a : r.addresses) f_.network.addresses.push_back(a.to_string());
    switch (r.status) {
      case ResolveResult::Status::Ok:
        address_ = r.addresses.front();
        co_return true;
      case ResolveResult::Status::NxDomain:
        co_return fail(Ending::DnsNxdomain);
      case ResolveResult::Status::NoAddress:
        co_return fail(Ending::DnsNoAddress);
      case ResolveResult::Status::Failure:
        co_return fail(Ending::DnsError);
    }
    co_return fail(Ending::DnsError);
  }

  asio::awaitable<bool> connect() {
    f_.network.address = address_.to_string();
    enter(Phase::Connect);
    tcp::endpoint ep(address_, opt_.target.port);
    auto [ec] = co_await stream_->socket().async_connect(ep, kUse);
    if (ec) co_return fail_io(ec);
    error_code ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    // Our side of the connection: TLS-RPT's sending-mta-ip (RFC 8460 4.3).
    if (auto local = stream_->socket().local_endpoint(ignored); !ignored) {
      f_.network.local_address = local.address().to_string();
    }
    leave(f_.timings.connect);
    co_return true;
  }

  asio::awaitable<bool> banner() {
    enter(Phase::Banner);
    auto reply = co_await read_reply();
    if (!reply) {
      if (f_.ending == Ending::TlsFailed) co_return after_tls_failure();
      if (f_.ending == Ending::TimedOut && f_.network.bytes_received_in_phase == 0 &&
          opt_.target.tls_mode != TlsMode::Implicit && opt_.detect_implicit_tls) {
        f_.smtp.implicit_tls_detected = co_await port_speaks_tls();
      }
      co_return false;
    }
    first_read_after_tls_ = false;
    f_.smtp.banner = *reply;
    if (reply->code / 100 != 2) co_return fail(Ending::BadReply);
    leave(f_.timings.banner);
    co_return true;
  }

  asio::awaitable<bool> ehlo() {
    enter(Phase::Ehlo);
    std::string ehlo = "EHLO " + opt_.ehlo_name;
    if (!co_await send(std::move(ehlo))) co_return false;
    auto reply = co_await read_reply();
    if (!reply) co_return f_.ending == Ending::TlsFailed ? after_tls_failure() : false;
    first_read_after_tls_ = false;
    std::vector<std::string> extensions;
    if (reply->code / 100 == 2) {
      for (std::size_t i = 1; i < reply->lines.size(); ++i) extensions.push_back(reply->lines[i]);
    } else if (reply->permanent_failure() && reply->code != 554) {
      // RFC 5321 3.2: a server that does not know EHLO answers 500/502; fall back to HELO.
      f_.smtp.helo_fallback = true;
      std::string helo_line = "HELO " + opt_.ehlo_name;
      if (!co_await send(std::move(helo_line))) co_return false;
      auto helo = co_await read_reply();
      if (!helo) co_return false;
      if (helo->code / 100 != 2) co_return fail(Ending::BadReply);
    } else {
      co_return fail(Ending::BadReply);
    }
    // After TLS the extension list is rebuilt from the post-TLS reply only (RFC 3207 4.2).
    if (stream_->tls() && opt_.target.tls_mode == TlsMode::Starttls) {
      f_.smtp.extensions_before_tls = std::move(f_.smtp.extensions);
    }
    f_.smtp.extensions = std::move(extensions);
    leave(f_.timings.ehlo);
    if (opt_.target.tls_mode == TlsMode::Starttls && !stream_->tls() && !has("STARTTLS")) {
      f_.phase = Phase::Ehlo;
      co_return fail(Ending::NoStarttls);
    }
    co_return true;
  }

  bool has(std::string_view keyword) const {
    for (const auto& e : f_.smtp.extensions) {
      if (keyword_of(e) == keyword) return true;
    }
    return false;
  }

  asio::awaitable<bool> starttls() {
    enter(Phase::Starttls);
    std::string starttls = "STARTTLS";
    if (!co_await send(std::move(starttls))) co_return false;
    auto reply = co_await read_reply();
    if (!reply) co_return false;
    if (reply->code != 220) co_return fail(Ending::BadReply);
    // RFC 3207 5 / CVE-2011-0411: the server must send nothing between its 220 and the TLS
    // handshake. Bytes already here were injected; using or discarding them silently would
    // let a man in the middle speak for the server, so the attempt is abandoned.
    if (!stream_->buffered().empty()) {
      f_.smtp.bytes_after_starttls = stream_->buffered().size();
      f_.smtp.unparsed = stream_->buffered().substr(0, kMaxUnparsed);
      co_return fail(Ending::BytesAfterStarttls);
    }
    leave(f_.timings.starttls);
    co_return true;
  }

  SslPtr new_ssl() {
    SslPtr ssl(SSL_new(ctx_->native()));
    const auto& t = opt_.target;
    const bool ip = is_ip_literal(t.host);
    // SNI is a host name, never an IP literal (RFC 6066 3).
    std::string sni = t.sni ? *t.sni : (ip ? std::string() : t.host);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
    // Ask for a stapled OCSP response (RFC 6066 8): a server that staples "revoked" is
    // certificate-revoked (HandshakeCapture::on_ocsp_status). No request goes to a responder.
    SSL_set_tlsext_status_type(ssl.get(), TLSEXT_STATUSTYPE_ocsp);
    if (opt_.fallback) {
      SSL_set_mode(ssl.get(), SSL_MODE_SEND_FALLBACK_SCSV);
      f_.tls.fallback_scsv = true;
    }
    f_.tls.sni = sni;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    // Fail closed: a name we cannot check means no TLS, never an unchecked certificate.
    const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str())
                       : SSL_set1_host(ssl.get(), t.host.c_str());
    if (set != 1) return nullptr;
    f_.certificate.verify_name = t.host;
    // A session is only ever offered back to the same name, SNI and port.
    ctx_->prepare_resumption(ssl.get(), t.host + "|" + sni + "|" + std::to_string(t.port), true);
    return ssl;
  }

  asio::awaitable<bool> handshake() {
    enter(Phase::TlsHandshake);
    f_.tls.attempted = true;
    SslPtr ssl = new_ssl();
    if (!ssl) {
      f_.local_detail =
          "cannot check the certificate against the name \"" + opt_.target.host + "\"";
      co_return fail(Ending::LocalSetup);
    }
    capture_.attach(ssl.get());
    stream_->start_tls(std::move(ssl));
    TlsChannel* tls = stream_->tls();
    error_code ec = co_await tls->handshake();
    capture_.read_out(tls->ssl(), f_.tls, f_.certificate);
    f_.tls.openssl_error_codes = tls->error_codes();
    f_.tls.openssl_errors = tls->error_text();
    f_.tls.bytes_received = tls->bytes_received();
    f_.tls.first_bytes = tls->first_bytes();
    if (ec) co_return fail_io(ec);
    f_.tls.handshake_done = true;
    leave(f_.timings.tls_handshake);
    f_.clock_now = static_cast<std::int64_t>(std::time(nullptr));
    f_.certificate.verified = capture_.proves_identity(tls->ssl(), opt_.target.host);
    if (!f_.certificate.verified) {
      // Nothing has been sent inside this TLS session; end it without a word of SMTP. Not
      // only on a recorded error: a handshake that proved nothing (an anonymous suite, no
      // certificate) is as bad as one that failed.
      f_.phase = Phase::Certificate;
      co_return fail(Ending::VerifyFailed);
    }
    co_return true;
  }

  // Under TLS 1.3 the server may refuse us only after our side finished the handshake; an
  // alert on the first read after it is still a handshake failure (failure-classes.md).
  bool after_tls_failure() {
    if (!stream_->tls()) return false;
    capture_.read_out(stream_->tls()->ssl(), f_.tls, f_.certificate);
    f_.tls.openssl_error_codes = stream_->tls()->error_codes();
    f_.tls.openssl_errors = stream_->tls()->error_text();
    f_.tls.bytes_received = stream_->tls()->bytes_received();
    if (first_read_after_tls_) {
      f_.phase = Phase::TlsHandshake;
      f_.tls.failed_after_handshake = true;
    }
    return false;
  }

  asio::awaitable<bool> auth() {
    enter(Phase::Auth);
    std::vector<std::string> mechs;
    for (const auto& e : f_.smtp.extensions) {
      if (keyword_of(e) != "AUTH") continue;
      std::string rest = e.size() > 5 ? e.substr(5) : "";
      std::size_t pos = 0;
      while (pos < rest.size()) {
        auto end = rest.find(' ', pos);
        std::string m = rest.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (!m.empty()) mechs.push_back(m);
        if (end == std::string::npos) break;
        pos = end + 1;
      }
    }
    auto offers = [&](std::string_view m) {
      return std::find(mechs.begin(), mechs.end(), m) != mechs.end();
    };
    const Credentials& c = *opt_.credentials;
    // A forced mechanism the server does not offer is auth-unavailable, never a fallback
    // to another one behind the admin's back.
    auto use = [&](AuthMechanism m, std::string_view name) {
      const bool wanted =
          c.mechanism == m || (c.mechanism == AuthMechanism::Auto && m != AuthMechanism::Xoauth2);
      return wanted && offers(name);
    };
    std::optional<Reply> reply;
    if (use(AuthMechanism::Xoauth2, "XOAUTH2")) {
      f_.smtp.auth_mechanism = "XOAUTH2";
      // Google's SASL XOAUTH2 (developers.google.com/gmail/imap/xoauth2-protocol).
      std::string token = "user=" + c.user +
                          "\x01"
                          "auth=Bearer " +
                          c.password + "\x01\x01";
      std::string line = "AUTH XOAUTH2 " + base64(token);
      if (!co_await send(std::move(line), "AUTH XOAUTH2 ***")) co_return false;
      reply = co_await read_reply();
      if (reply && reply->code == 334) {
        // The failure comes as a 334 challenge holding a JSON error; an empty response
        // ends the exchange and brings the real reply (535 5.7.8 at Gmail).
        std::string empty;
        if (!co_await send(std::move(empty), "")) co_return false;
        reply = co_await read_reply();
      }
    } else if (use(AuthMechanism::Plain, "PLAIN")) {
      f_.smtp.auth_mechanism = "PLAIN";
      std::string token;
      token += '\0';
      token += c.user;
      token += '\0';
      token += c.password;
      std::string line = "AUTH PLAIN " + base64(token);
      if (!co_await send(std::move(line), "AUTH PLAIN ***")) co_return false;
      reply = co_await read_reply();
    } else if (use(AuthMechanism::Login, "LOGIN")) {
      f_.smtp.auth_mechanism = "LOGIN";
      std::string login = "AUTH LOGIN";
      if (!co_await send(std::move(login))) co_return false;
      reply = co_await read_reply();
      const std::array<const std::string*, 2> secrets = {&c.user, &c.password};
      for (const std::string* secret : secrets) {
        if (!reply || reply->code != 334) break;
        std::string line = base64(*secret);
        if (!co_await send(std::move(line), "***")) co_return false;
        reply = co_await read_reply();
      }
    } else {
      if (c.mechanism == AuthMechanism::Plain) f_.smtp.auth_mechanism = "PLAIN";
      if (c.mechanism == AuthMechanism::Login) f_.smtp.auth_mechanism = "LOGIN";
      if (c.mechanism == AuthMechanism::Xoauth2) f_.smtp.auth_mechanism = "XOAUTH2";
      co_return fail(Ending::NoAuthMechanism);
    }
    if (!reply) co_return false;
    if (reply->code != 235) co_return fail(Ending::BadReply);
    leave(f_.timings.auth);
    co_return true;
  }

  // A second, short connection: does the port answer a ClientHello with a TLS record?
  asio::awaitable<bool> port_speaks_tls() {
    if (!ctx_) co_return false;
    SmtpStream probe(ex_);
    Deadline deadline(ex_, probe.socket());
    deadline.arm(
        std::min<std::chrono::steady_clock::duration>(opt_.phase_timeout, kImplicitProbeTimeout));
    auto [ec] =
        co_await probe.socket().async_connect(tcp::endpoint(address_, opt_.target.port), kUse);
    if (ec) co_return false;
    SslPtr ssl(SSL_new(ctx_->native()));
    if (!is_ip_literal(opt_.target.host)) {
      SSL_set_tlsext_host_name(ssl.get(), opt_.target.host.c_str());
    }
    SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
    probe.start_tls(std::move(ssl));
    (void)co_await probe.tls()->handshake();
    const bool tls = looks_like_tls_record(probe.tls()->first_bytes());
    ERR_clear_error();
    deadline.disarm();
    co_await probe.close();
    co_return tls;
  }

  asio::any_io_executor ex_;
  AttemptOptions opt_;
  std::shared_ptr<ClientContext> ctx_;
  std::string ctx_error_;
  std::unique_ptr<SmtpStream> stream_;
  Deadline deadline_;
  HandshakeCapture capture_;
  AttemptFacts f_;
  asio::ip::address address_;
  std::chrono::steady_clock::time_point t0_, phase_start_;
  std::uint64_t phase_bytes_ = 0;
  bool first_read_after_tls_ = false;
};

}  // namespace

asio::awaitable<AttemptResult> run_attempt(AttemptOptions options,
                                           std::shared_ptr<ClientContext> context,
                                           std::string context_error) {
  auto ex = co_await asio::this_coro::executor;
  Attempt attempt(ex, std::move(options), std::move(context), std::move(context_error));
  co_return co_await attempt.run();
}

}  // namespace tlsrelay::tls

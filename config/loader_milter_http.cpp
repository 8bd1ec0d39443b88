// The [milter] and [http] sections of the loader: the milter's socket and status URL,
// the HTTP listener's allowed Host names, and that the two agree (loader.hpp).
#include <algorithm>
#include <cctype>

#include "config/loader.hpp"
#include "config/loader_sections.hpp"

namespace tlsrelay::config::detail {

// libmilter's socket syntax (smfi_setconn); "" when `s` is one, else why not.
std::string milter_socket_problem(std::string_view s) {
  const auto colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  if (colon == std::string_view::npos) {
    return "must start with \"unix:\", \"local:\", \"inet:\" or \"inet6:\"";
  }
  const std::string_view rest = s.substr(colon + 1);
  if (kind == "unix" || kind == "local") {
    if (rest.empty() || rest.front() != '/')
      return "needs an absolute path after \"" + std::string(kind) + ":\"";
    return "";
  }
  if (kind != "inet" && kind != "inet6") {
    return "must start with \"unix:\", \"local:\", \"inet:\" or \"inet6:\"";
  }
  const auto at = rest.find('@');
  const std::string_view port = rest.substr(0, at);
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
    // Postfix writes "inet:HOST:PORT" in smtpd_milters; libmilter wants "inet:PORT@HOST".
    const auto last = rest.rfind(':');
    if (at == std::string_view::npos && last != std::string_view::npos) {
      return "is written PORT@HOST here (libmilter), e.g. \"" + std::string(kind) + ":" +
             std::string(rest.substr(last + 1)) + "@" + std::string(rest.substr(0, last)) +
             "\"; Postfix's smtpd_milters writes " + std::string(kind) + ":HOST:PORT";
    }
    return "needs a port from 1 to 65535 after \"" + std::string(kind) + ":\"";
  }
  if (at != std::string_view::npos) {
    const std::string_view host = rest.substr(at + 1);
    if (!is_host_name(host) && !parse_ip_address(host)) {
      return "has a host that is neither an IP address nor a domain name";
    }
  }
  return "";
}

// "http://HOST[:PORT][/PATH]" into m's status_* fields; "" or why not.
std::string parse_status_url(std::string_view url, MilterSettings& m) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return "must be http:// (the status endpoint is local; https is not supported)";
  }
  if (url.rfind(scheme, 0) != 0) return "must start with \"http://\"";
  std::string_view rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  m.status_target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (m.status_target.find_first_of(" #") != std::string::npos) {
    return "must not contain spaces or a fragment";
  }
  if (authority.find('@') != std::string_view::npos) return "must not contain user information";
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "has an IPv6 address without ']'";
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "needs ':' after ']'";
      port = authority.substr(close + 2);
      if (port.empty()) return "has an empty port";
    }
    if (!parse_ip_address(host)) return "has an invalid IPv6 address";
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return "has an empty port";
    }
    if (!is_host_name(host) && !parse_ip_address(host)) {
      return "needs a host: an IP address or a domain name";
    }
  }
  if (!port.empty()) {
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                          return c >= '0' && c <= '9';
                        });
    const int n = digits ? std::stoi(std::string(port)) : 0;
    if (n < 1 || n > 65535) return "needs a port from 1 to 65535";
    m.status_port = static_cast<std::uint16_t>(n);
  }
  m.status_host = std::string(host);
  return "";
}

void read_milter(TableReader& r, MilterSettings& m) {
  m.at = r.problems().location(r.table().source());
  if (const toml::node* n = r.get("socket")) {
    if (auto v = r.string_value(*n, r.name("socket"))) {
      const std::string why = milter_socket_problem(*v);
      if (why.empty()) {
        m.socket = *v;
      } else {
        r.problem(*n, r.name("socket") + " " + quote(*v) + " " + why);
      }
    }
  }
  if (const toml::node* n = r.get("status_url")) {
    if (auto v = r.string_value(*n, r.name("status_url"))) {
      const std::string why = parse_status_url(*v, m);
      if (why.empty()) {
        m.status_url = *v;
        m.status_url_at = r.problems().location(n->source());
      } else {
        r.problem(*n, r.name("status_url") + " " + quote(*v) + " " + why);
      }
    }
  }
  if (auto c = r.choice("policy", {"accept", "tempfail", "hold"})) {
    m.policy = std::array{MilterPolicy::Accept, MilterPolicy::Tempfail, MilterPolicy::Hold}[*c];
  }
  if (const auto* a = r.array("failing_states")) {
    bool failing = false;
    bool degraded = false;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      const std::string what = r.name("failing_states") + "[" + std::to_string(i) + "]";
      if (s && s->get() == "failing") {
        failing = true;
      } else if (s && s->get() == "degraded") {
        degraded = true;
      } else {
        r.problem(e, what + " must be " + alternatives({"failing", "degraded"}) + ", not " +
                         (s ? quote(s->get()) : type_name(e.type())));
      }
    }
    // A route whose every upstream fails is the case the policy exists for; leaving it
    // out would make the policy apply to the milder state only.
    if (!failing) {
      r.problem(*a, r.name("failing_states") + " must include \"failing\"");
    }
    m.degraded_is_failing = degraded;
  }
  // One /status answer serves every message for `cache_s`: never a request per message.
  set_if(r.seconds("cache_s", 0.1, 60), m.cache);
  set_if(r.seconds("timeout_s", 0.01, 10), m.timeout);
  set_if(r.boolean("route_header"), m.route_header);
  set_if(r.boolean("inbound_header"), m.inbound_header);
  r.finish();
}

void read_allowed_hosts(TableReader& r, std::vector<std::string>& out) {
  const auto* a = r.array("allowed_hosts");
  if (!a) return;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string what = r.name("allowed_hosts") + "[" + std::to_string(i) + "]";
    auto text = r.string_value(e, what);
    if (!text) continue;
    if (!is_host_name(*text) && !parse_ip_address(*text)) {
      const bool port = text->find(':') != std::string::npos;
      r.problem(e, what + " " + quote(*text) + " must be a host name or an IP address" +
                       (port ? " without a port (and an IPv6 address without brackets)" : ""));
      continue;
    }
    out.push_back(*text);
  }
}

bool same_host_name(std::string_view a, std::string_view b) {
  if (!a.empty() && a.back() == '.') a.remove_suffix(1);
  if (!b.empty() && b.back() == '.') b.remove_suffix(1);
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The milter reads the relay's /status with the URL's host in Host; a name the relay does
// not take as its own would be refused (proxy/status/http_host.hpp) and the milter would fail open
// for every message. Only when this file also configures the relay's HTTP server.
void check_status_host(TableReader& r, const MilterSettings& m, const HttpSettings& http) {
  if (!http.listen || !m.status_url || parse_ip_address(m.status_host)) return;
  if (same_host_name(m.status_host, "localhost")) return;
  for (const auto& h : http.allowed_hosts) {
    if (same_host_name(m.status_host, h)) return;
  }
  if (const toml::node* n = r.table().get("status_url")) {
    r.problem(*n, r.name("status_url") + " names the host " + quote(m.status_host) +
                      ", which the relay does not answer: add it to [http] allowed_hosts, or use "
                      "the [http] listen address or localhost");
  }
}

}  // namespace tlsrelay::config::detail

namespace tlsrelay::config {

std::optional<std::string> status_url_problem(const Settings& s) {
  if (!s.milter || !s.milter->status_url) return std::nullopt;
  const MilterSettings& m = *s.milter;
  const std::string at = m.status_url_at.to_string() + ": [milter] status_url ";
  if (!s.http.listen) {
    return at +
           "names the relay's /status, but this file has no [http] listen: add [http] "
           "listen = \"127.0.0.1:" +
           std::to_string(m.status_port) + "\"";
  }
  const SocketAddress& listen = *s.http.listen;
  if (listen.port != 0 && listen.port != m.status_port) {
    return at + "uses port " + std::to_string(m.status_port) + ", but [http] listen is " +
           listen.to_string();
  }
  if (auto ip = parse_ip_address(m.status_host)) {
    const IpAddress a = listen.address.unmapped();
    const bool wildcard =
        std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
    if (!wildcard && ip->unmapped() != a) {
      return at + "names " + m.status_host + ", but [http] listen is " + listen.to_string();
    }
  }
  return std::nullopt;
}

}  // namespace tlsrelay::config

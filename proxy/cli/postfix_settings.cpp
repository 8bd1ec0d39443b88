#include "proxy/cli/postfix_settings.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

constexpr std::string_view kBlank = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kBlank) - begin + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string value_of(const PostfixParameters& p, std::string_view name) {
  const auto it = p.find(name);
  return it == p.end() ? std::string() : std::string(trim(it->second));
}

bool is_yes(std::string_view v) {
  return lower(trim(v)) == "yes";
}

// Levels at which the smtp client refuses a server without STARTTLS, as tlsrelay's
// loopback listener is (postconf(5) smtp_tls_security_level). dane, for a next hop without
// TLSA records, falls back to may; it is listed because it asks for more than the hop gives.
bool refuses_plaintext(std::string_view level) {
  static constexpr std::array<std::string_view, 6> kRefusing = {
      "encrypt", "secure", "verify", "dane", "dane-only", "fingerprint"};
  const std::string l = lower(trim(level));
  return std::find(kRefusing.begin(), kRefusing.end(), l) != kRefusing.end();
}

// Postfix's list syntax: elements separated by commas and/or white space; "{ ... }" is one
// element (a milter with its own settings, Postfix 3.0 and later).
std::vector<std::string> list_elements(std::string_view list) {
  std::vector<std::string> out;
  std::string current;
  int depth = 0;
  auto flush = [&] {
    if (!current.empty()) out.push_back(std::move(current));
    current.clear();
  };
  for (const char c : list) {
    if (depth == 0 && (c == ',' || kBlank.find(c) != std::string_view::npos)) {
      flush();
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    current += c;
  }
  flush();
  return out;
}

// "$name", "${name}", "$(name)": the parameter an element names, else "".
std::string referenced_parameter(std::string_view element) {
  if (element.size() < 2 || element.front() != '$') return {};
  std::string_view name = element.substr(1);
  if ((name.front() == '{' && name.back() == '}') || (name.front() == '(' && name.back() == ')')) {
    name = name.substr(1, name.size() - 2);
  }
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  return plain ? std::string(name) : std::string();
}

// The milter sockets a list names, $parameters expanded (a bounded depth: Postfix itself
// refuses a loop).
void collect_sockets(std::string_view list, const PostfixParameters& main_cf, int depth,
                     std::vector<std::string>& sockets) {
  for (const std::string& element : list_elements(list)) {
    const std::string name = referenced_parameter(element);
    if (!name.empty()) {
      if (depth < 8) collect_sockets(value_of(main_cf, name), main_cf, depth + 1, sockets);
      continue;
    }
    if (element.front() == '{') {
      // "{ inet:host:port, connect_timeout=10s }": the socket is the first element inside.
      const auto inner = list_elements(std::string_view(element).substr(1, element.size() - 2));
      if (!inner.empty()) sockets.push_back(inner.front());
      continue;
    }
    sockets.push_back(element);
  }
}

// One to five decimal digits: a port number as text, not yet checked against 65535.
bool port_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

void add_port(std::string_view digits, std::set<std::uint16_t>& ports) {
  if (!port_digits(digits)) return;
  const unsigned long v = std::stoul(std::string(digits));
  if (v > 0 && v <= 65535) ports.insert(static_cast<std::uint16_t>(v));
}

// ":PORT" wherever it stands: "[127.0.0.1]:10024", "inet:localhost:8891", "127.0.0.1:10025".
// The digits must end the word, so that the "127" of "inet:127.0.0.1" is no port.
void scan_ports(std::string_view text, std::set<std::uint16_t>& ports) {
  for (std::size_t at = text.find(':'); at != std::string_view::npos; at = text.find(':', at + 1)) {
    std::size_t end = at + 1;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    const bool ends_word =
        end == text.size() ||
        std::string_view(" \t\r\n,]})/\"'").find(text[end]) != std::string_view::npos;
    if (end > at + 1 && ends_word) add_port(text.substr(at + 1, end - at - 1), ports);
  }
}

// Whether every element of a table list is TYPE:/absolute/path (hash:/etc/postfix/sasl_passwd),
// which can be shown; static:user:password and inline:{...} hold the secret itself.
bool names_files_only(std::string_view list) {
  const auto elements = list_elements(list);
  return !elements.empty() && std::all_of(elements.begin(), elements.end(), [](const auto& e) {
    const auto colon = e.find(':');
    return colon != std::string::npos && colon + 1 < e.size() && e[colon + 1] == '/' &&
           e.find('{') == std::string::npos && e.rfind("static:", 0) != 0;
  });
}

// The service names Postfix's stock master.cf uses for inet services (/etc/services).
std::optional<std::uint16_t> service_port(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::uint16_t>, 5> kServices = {
      {{"smtp", 25}, {"submission", 587}, {"submissions", 465}, {"smtps", 465}, {"lmtp", 24}}};
  for (const auto& [service, port] : kServices) {
    if (name == service) return port;
  }
  return std::nullopt;
}

class Planner {
 public:
  Planner(const PostfixParameters& main_cf, const PostfixParameters& overrides, RelayHop hop)
      : main_cf_(main_cf), overrides_(overrides), hop_(hop) {}

  PostfixPlan plan() {
    relayhost();
    tls_level();
    sasl();
    if (hop_.milter_port) milters(*hop_.milter_port);
    routing_advice();
    override_advice();
    return std::move(plan_);
  }

 private:
  void set(const std::string& name, const std::string& value, std::string why) {
    plan_.changes.push_back({{"postconf", "-e", name + " = " + value}, std::move(why)});
  }
  void remove(const std::string& name, std::string why) {
    plan_.changes.push_back({{"postconf", "-X", name}, std::move(why)});
  }
  std::string value(std::string_view name) const { return value_of(main_cf_, name); }

  void relayhost() {
    const std::string ours = relayhost_for(hop_.relay_port);
    const std::string now = value("relayhost");
    if (now == ours) return;
    set("relayhost", ours,
        "outgoing mail goes to tlsrelay on loopback" +
            (now.empty() ? std::string(" (relayhost was unset: Postfix delivered to the MX hosts)")
                         : " (was " + now + ")"));
  }

  void tls_level() {
    const std::string level = value("smtp_tls_security_level");
    // An empty level takes the obsolete smtp_enforce_tls (yes: encrypt).
    const bool legacy = level.empty() && is_yes(value("smtp_enforce_tls"));
    if (!refuses_plaintext(level) && !legacy) return;
    set("smtp_tls_security_level", "may",
        "the hop to tlsrelay is plain SMTP on loopback, which " +
            (legacy ? std::string("smtp_enforce_tls = yes") : "'" + level + "'") +
            " refuses; tlsrelay enforces verified TLS to the smarthost");
  }

  void sasl() {
    if (is_yes(value("smtp_sasl_auth_enable"))) {
      set("smtp_sasl_auth_enable", "no",
          "tlsrelay authenticates to the smarthost now; Postfix has no credentials for tlsrelay");
    }
    const std::string maps = value("smtp_sasl_password_maps");
    if (!maps.empty()) {
      remove("smtp_sasl_password_maps",
             "tlsrelay holds the smarthost's password now (" +
                 (names_files_only(maps) ? "the table " + maps : std::string("its table")) +
                 " stays on disk: remove it once mail flows)");
    }
    if (is_yes(value("smtp_tls_wrappermode"))) {
      remove("smtp_tls_wrappermode",
             "the hop to tlsrelay is plain SMTP; implicit TLS (465) to the smarthost is "
             "tlsrelay's now");
    }
  }

  void milters(std::uint16_t port) {
    const std::string ours = postfix_milter_socket(port);
    // What non_smtpd_milters reads through $smtpd_milters is the list after our change.
    PostfixParameters after = main_cf_;
    const std::vector<std::string> others = other_milters(ours);
    if (auto list = append_milter(value("smtpd_milters"), ours, after)) {
      set("smtpd_milters", *list,
          "tlsrelay-milter (route health, inbound TLS facts) after the milters already there");
      after["smtpd_milters"] = *list;
    }
    if (auto list = append_milter(value("non_smtpd_milters"), ours, after)) {
      set("non_smtpd_milters", *list, "the same for mail from sendmail(1) and pickup");
    }
    if (main_cf_.find("milter_default_action") == main_cf_.end()) {
      set("milter_default_action", "accept",
          "a milter that is down lets mail through (Postfix's default, tempfail, would hold "
          "all mail while one is stopped)");
      if (!others.empty()) {
        plan_.advice.push_back(
            "milter_default_action = accept applies to every milter, " + join(others, ", ") +
            " too: if one of them must hold mail while it is down, write ours as "
            "'{ " +
            ours + ", default_action=accept }' instead and leave milter_default_action unset");
      }
    }
  }

  // The milters already configured, but ours.
  std::vector<std::string> other_milters(const std::string& ours) const {
    std::vector<std::string> found;
    for (const char* list : {"smtpd_milters", "non_smtpd_milters"}) {
      std::vector<std::string> sockets;
      collect_sockets(value(list), main_cf_, 0, sockets);
      for (auto& s : sockets) {
        if (s != ours && std::find(found.begin(), found.end(), s) == found.end()) {
          found.push_back(s);
        }
      }
    }
    return found;
  }

  void routing_advice() {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kTables = {{
        {"transport_maps", "a destination listed there may be sent to another next hop"},
        {"sender_dependent_relayhost_maps", "a sender listed there goes to its own relayhost"},
        {"sender_dependent_default_transport_maps",
         "a sender listed there goes through its own transport"},
    }};
    for (const auto& [name, what] : kTables) {
      const std::string v = value(name);
      if (v.empty()) continue;
      plan_.advice.push_back(std::string(name) + " = " + v + ": " + std::string(what) +
                             ", around tlsrelay; check its entries (not changed)");
    }
    // relayhost is the next hop of smtp(8)-type transports only (postconf(5) relayhost).
    const std::string transport = value("default_transport");
    if (!transport.empty() && transport != "smtp" && transport.rfind("smtp:", 0) != 0) {
      plan_.advice.push_back("default_transport = " + transport +
                             ": relayhost, and so tlsrelay, is used only when that is an "
                             "smtp(8) transport in master.cf; check it (not changed)");
    }
    // The hop is 127.0.0.1: a Postfix that speaks IPv6 only cannot make it.
    if (lower(value("inet_protocols")) == "ipv6") {
      plan_.advice.push_back(
          "inet_protocols = ipv6: Postfix cannot reach tlsrelay on "
          "127.0.0.1; add ipv4 (postconf -e 'inet_protocols = all')");
    }
  }

  // master.cf's -o overrides win over main.cf for their service.
  void override_advice() {
    for (const auto& [key, raw] : overrides_) {
      const auto slash = key.rfind('/');
      if (slash == std::string::npos) continue;
      const std::string service = key.substr(0, slash);
      const std::string name = key.substr(slash + 1);
      const std::string v(trim(raw));
      std::string problem;
      if (name == "smtp_tls_security_level" && refuses_plaintext(v)) {
        problem = "refuses the plaintext hop to tlsrelay";
      } else if ((name == "smtp_sasl_auth_enable" || name == "smtp_tls_wrappermode") && is_yes(v)) {
        problem = "does not work with tlsrelay's plain loopback listener";
      } else if (name == "relayhost" || name == "smtp_sasl_password_maps") {
        problem = "overrides the relayhost route through tlsrelay";
      } else {
        continue;
      }
      plan_.advice.push_back("master.cf: service " + service + " sets -o " + name + "=" + v +
                             ", which " + problem +
                             " if mail leaves through that service; check it (postconf -P; "
                             "postconf -PX " +
                             shell_quote(key) + " removes it)");
    }
  }

  const PostfixParameters& main_cf_;
  const PostfixParameters& overrides_;
  RelayHop hop_;
  PostfixPlan plan_;
};

}  // namespace

PostfixParameters parse_postconf(std::string_view text) {
  PostfixParameters out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, eq));
    if (name.empty() || name.find_first_of(kBlank) != std::string_view::npos) continue;
    out[std::string(name)] = std::string(trim(line.substr(eq + 1)));
  }
  return out;
}

std::string PostfixChange::command_line() const {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

PostfixPlan plan_postfix(const PostfixParameters& main_cf, const PostfixParameters& overrides,
                         const RelayHop& hop) {
  return Planner(main_cf, overrides, hop).plan();
}

std::string relayhost_for(std::uint16_t port) {
  return "[127.0.0.1]:" + std::to_string(port);
}

std::string postfix_milter_socket(std::uint16_t port) {
  return "inet:127.0.0.1:" + std::to_string(port);
}

std::optional<std::string> append_milter(std::string_view list, std::string_view ours,
                                         const PostfixParameters& main_cf) {
  std::vector<std::string> sockets;
  collect_sockets(list, main_cf, 0, sockets);
  if (std::find(sockets.begin(), sockets.end(), ours) != sockets.end()) return std::nullopt;
  std::string_view kept = trim(list);
  while (!kept.empty() && kept.back() == ',') kept = trim(kept.substr(0, kept.size() - 1));
  if (kept.empty()) return std::string(ours);
  return std::string(kept) + ", " + std::string(ours);
}

std::set<std::uint16_t> ports_named(std::string_view services, const PostfixParameters& main_cf) {
  std::set<std::uint16_t> ports;
  scan_ports(services, ports);
  std::size_t at = 0;
  while (at < services.size()) {
    std::size_t end = services.find('\n', at);
    if (end == std::string_view::npos) end = services.size();
    const std::string_view line = services.substr(at, end - at);
    at = end + 1;
    // "NAME TYPE ...": for an inet service NAME is [HOST:]PORT, the port maybe by name.
    const auto words = list_elements(line);
    if (words.size() < 2 || words[1] != "inet") continue;
    const std::string_view name = words[0];
    const std::string_view port =
        name.substr(name.rfind(':') == std::string_view::npos ? 0 : name.rfind(':') + 1);
    if (port_digits(port)) {
      add_port(port, ports);
    } else if (auto p = service_port(port)) {
      ports.insert(*p);
    }
  }
  for (const auto& [name, value] : main_cf) scan_ports(value, ports);
  return ports;
}

std::string shell_quote(std::string_view text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_./:=@%+,").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(text);
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace tlsrelay::proxy

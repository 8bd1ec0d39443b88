#include "proxy/server/command_parser.hpp"

#include <arpa/inet.h>

#include <array>
#include <set>

#include "common/text.hpp"

namespace tlsrelay::proxy {
namespace {

bool is_alpha(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}
bool is_8bit(unsigned char c) {
  return c >= 0x80;
}
char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}
std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_upper(c);
  return out;
}
bool has_8bit(std::string_view s) {
  for (unsigned char c : s) {
    if (is_8bit(c)) return true;
  }
  return false;
}

// RFC 3629 4: well-formed UTF-8 only (no overlong forms, no surrogates, nothing past
// U+10FFFF). RFC 6531 3.3 requires it of SMTPUTF8 envelopes; ill-formed sequences are how
// filters that decode differently are fooled.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (d < l || d > h) return false;
    }
    i += n + 1;
  }
  return true;
}

// RFC 5322 3.2.3 atext, the characters of a Dot-string atom (RFC 5321 4.1.2).
bool is_atext(unsigned char c) {
  if (is_alnum(c)) return true;
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_hex_upper(char c) {
  return is_digit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
  return is_digit(static_cast<unsigned char>(c)) ? c - '0' : c - 'A' + 10;
}

// ---- addresses ----------------------------------------------------------------------

// RFC 5321 4.1.3 address-literal: IPv4, "IPv6:" IPv6, or a registered tag ":" dcontent.
bool valid_address_literal(std::string_view inner) {
  if (inner.empty()) return false;
  if (istarts_with(inner, "IPv6:")) {
    std::string addr(inner.substr(5));
    in6_addr a6{};
    return inet_pton(AF_INET6, addr.c_str(), &a6) == 1;
  }
  if (is_digit(static_cast<unsigned char>(inner.front()))) {
    std::string addr(inner);
    in_addr a4{};
    return inet_pton(AF_INET, addr.c_str(), &a4) == 1;
  }
  const auto colon = inner.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == inner.size()) return false;
  const std::string_view tag = inner.substr(0, colon);
  for (unsigned char c : tag) {
    if (!is_alnum(c) && c != '-') return false;
  }
  for (unsigned char c : inner.substr(colon + 1)) {
    // dcontent = %d33-90 / %d94-126
    if (c < 33 || c > 126 || (c >= 91 && c <= 93)) return false;
  }
  return true;
}

// RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain), or an address literal. Lenient where
// Postfix is: "_" in labels (seen in real host names); U-labels when `utf8` (RFC 6531 3.3).
// Strict on empty labels, a leading "-" and label length (RFC 1035 2.3.4).
bool valid_domain(std::string_view d, bool utf8, bool allow_literal) {
  if (d.empty()) return false;
  if (d.front() == '[') {
    return allow_literal && d.size() >= 2 && d.back() == ']' &&
           valid_address_literal(d.substr(1, d.size() - 2));
  }
  std::size_t start = 0;
  while (true) {
    const auto dot = d.find('.', start);
    const std::string_view label =
        d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-') return false;
    for (unsigned char c : label) {
      if (is_alnum(c) || c == '-' || c == '_') continue;
      if (utf8 && is_8bit(c)) continue;
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

enum class PathRole { Sender, Recipient };

// Validates what was between "<" and ">" and returns the mailbox, source route removed.
// Long on purpose: RFC 5321 4.1.2's Path grammar (source route, local part, domain or
// address literal), one rule after another, so that it can be read against the RFC.
ParseResult<std::string> validate_path(std::string_view text, PathRole role, bool smtputf8,
                                       const AddressLimits& limits) {
  const bool sender = role == PathRole::Sender;
  const std::string_view enhanced = sender ? "5.1.7" : "5.1.3";
  const std::string what = sender ? "sender" : "recipient";
  auto bad = [&](std::string_view why) {
    return make_reply(501, enhanced, "Bad " + what + " address syntax: " + std::string(why));
  };
  if (text.empty()) return std::string{};
  for (unsigned char c : text) {
    if (is_ctl(c)) return bad("control character");
  }
  if (has_8bit(text)) {
    // RFC 6531 3.5: non-ASCII addresses need the SMTPUTF8 parameter; refused with X.6.7,
    // on MAIL as 550 "mailbox unavailable", on RCPT as 553 "mailbox name not allowed".
    if (!smtputf8) {
      return make_reply(sender ? 550 : 553, "5.6.7",
                        "Non-ASCII " + what + " address requires SMTPUTF8");
    }
    if (!valid_utf8(text)) return bad("invalid UTF-8");
  }
  // RFC 5321 4.1.1.3 and appendix C: a source route "@a,@b:" must be accepted and may be
  // ignored; we strip it so that nobody downstream is asked to route through it.
  if (text.front() == '@') {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return bad("unterminated source route");
    std::string_view route = text.substr(0, colon);
    while (!route.empty()) {
      const auto comma = route.find(',');
      const std::string_view hop = route.substr(0, comma);
      if (hop.size() < 2 || hop.front() != '@' || !valid_domain(hop.substr(1), smtputf8, false)) {
        return bad("invalid source route");
      }
      if (comma == std::string_view::npos) break;
      route.remove_prefix(comma + 1);
      if (route.empty()) return bad("invalid source route");
    }
    text.remove_prefix(colon + 1);
    if (text.empty()) return bad("source route without mailbox");
  }
  // RFC 5321 4.5.3.1.3: the path counts its brackets. Checked before the mailbox is taken
  // apart, and after the route is gone because the route is not sent on.
  if (text.size() + 2 > limits.max_path) return bad("path too long");
  // RFC 5321 4.5.1: <Postmaster> without a domain is a valid recipient.
  if (!sender && iequals(text, "postmaster")) return std::string(text);

  std::size_t at = std::string_view::npos;
  if (text.front() == '"') {
    // Quoted-string = DQUOTE *QcontentSMTP DQUOTE (RFC 5321 4.1.2).
    std::size_t i = 1;
    bool closed = false;
    while (i < text.size()) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c == '\\') {
        if (i + 1 >= text.size()) return bad("unterminated quoted local part");
        const auto n = static_cast<unsigned char>(text[i + 1]);
        if ((n < 32 || n > 126) && !is_8bit(n)) return bad("invalid quoted pair");
        i += 2;
      } else if (c == '"') {
        closed = true;
        break;
      } else if (c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) ||
                 is_8bit(c)) {
        ++i;
      } else {
        return bad("invalid character in quoted local part");
      }
    }
    if (!closed) return bad("unterminated quoted local part");
    at = i + 1;
    if (at >= text.size() || text[at] != '@') return bad("missing @domain");
  } else {
    at = text.find('@');
    if (at == std::string_view::npos) return bad("missing @domain");
    if (at == 0) return bad("empty local part");
    // Lenient on dots: "a..b" and "a." are not RFC 5321 Dot-strings, but real mailboxes
    // (some mobile carriers) have them and Postfix accepts them; refusing would bounce mail
    // the smarthost would take.
    for (unsigned char c : text.substr(0, at)) {
      if (!is_atext(c) && c != '.' && !is_8bit(c)) return bad("invalid character in local part");
    }
  }
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (local.size() > limits.max_local_part) return bad("local part too long");
  if (domain.size() > limits.max_domain) return bad("domain too long");
  if (!valid_domain(domain, smtputf8, true)) return bad("invalid domain");
  return std::string(text);
}

// Finds the ">" that closes the path opened by rest[0] == '<', skipping quoted strings
// (a local part may be "a>b"@example.com).
std::size_t find_path_end(std::string_view rest) {
  bool quoted = false;
  for (std::size_t i = 1; i < rest.size(); ++i) {
    const char c = rest[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

struct Param {
  std::string_view keyword;
  std::optional<std::string_view> value;
};

// RFC 5321 4.1.2: esmtp-param = esmtp-keyword ["=" esmtp-value];
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126),
// extended by UTF-8 under SMTPUTF8 (RFC 6531 3.3; checked by the caller, who knows).
std::optional<Reply> split_params(std::string_view text, std::vector<Param>& out) {
  text = trim_wsp(text);
  while (!text.empty()) {
    std::size_t end = 0;
    while (end < text.size() && !is_wsp(text[end])) ++end;
    const std::string_view token = text.substr(0, end);
    text = trim_wsp(text.substr(end));
    const auto eq = token.find('=');
    Param p;
    p.keyword = token.substr(0, eq);
    if (p.keyword.empty() || !is_alnum(static_cast<unsigned char>(p.keyword.front()))) {
      return make_reply(501, "5.5.4", "Bad parameter syntax: " + std::string(token));
    }
    for (unsigned char c : p.keyword) {
      if (!is_alnum(c) && c != '-') {
        return make_reply(501, "5.5.4", "Bad parameter syntax: " + std::string(token));
      }
    }
    if (eq != std::string_view::npos) {
      p.value = token.substr(eq + 1);
      if (p.value->empty()) {
        return make_reply(501, "5.5.4", "Bad parameter syntax: " + std::string(token));
      }
      for (unsigned char c : *p.value) {
        if (c == '=' || is_ctl(c)) {
          return make_reply(501, "5.5.4", "Bad parameter syntax: " + std::string(p.keyword));
        }
      }
    }
    out.push_back(p);
  }
  return std::nullopt;
}

// Non-ASCII parameter values only under SMTPUTF8, and then well-formed (RFC 6531 3.3).
std::optional<Reply> check_value_charset(const Param& p, bool smtputf8) {
  if (!p.value || !has_8bit(*p.value)) return std::nullopt;
  if (smtputf8 && valid_utf8(*p.value)) return std::nullopt;
  return make_reply(501, "5.5.4", "Bad " + upper(p.keyword) + " parameter syntax");
}

std::optional<Reply> check_duplicate(std::set<std::string>& seen, const Param& p) {
  if (seen.insert(upper(p.keyword)).second) return std::nullopt;
  return make_reply(501, "5.5.4", "Duplicate parameter: " + upper(p.keyword));
}

Reply unsupported(const Param& p) {
  // RFC 5321 4.1.1.11: 555 for a MAIL or RCPT parameter that is not recognised.
  return make_reply(555, "5.5.4", "Unsupported option: " + upper(p.keyword));
}

// xtext whose decoded form has no control characters: ENVID and ORCPT reappear in DSNs
// (RFC 3464 Original-Envelope-Id, Original-Recipient) and must not be a way to inject lines.
bool is_clean_xtext(std::string_view text) {
  const auto decoded = decode_xtext(text);
  if (!decoded) return false;
  for (unsigned char c : *decoded) {
    if (is_ctl(c)) return false;
  }
  return true;
}

// RFC 3461 4.2 ORCPT = addr-type ";" xtext; addr-type is an atom. With SMTPUTF8 the address
// may be utf-8-addr-unitext (RFC 6533 3), i.e. raw UTF-8 besides xtext.
bool valid_orcpt(std::string_view v, bool smtputf8) {
  const auto semi = v.find(';');
  if (semi == std::string_view::npos || semi == 0 || semi + 1 == v.size()) return false;
  for (unsigned char c : v.substr(0, semi)) {
    if (!is_atext(c)) return false;
  }
  const std::string_view addr = v.substr(semi + 1);
  if (!has_8bit(addr)) return is_clean_xtext(addr);
  if (!smtputf8) return false;
  // Check the ASCII runs as xtext; the UTF-8 runs were checked by check_value_charset().
  std::string ascii;
  for (char c : addr) {
    if (!is_8bit(static_cast<unsigned char>(c))) ascii += c;
  }
  return is_clean_xtext(ascii);
}

bool valid_notify(std::string_view v, std::string& canonical) {
  const std::string u = upper(v);
  if (u == "NEVER") {
    canonical = u;
    return true;
  }
  // RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY.
  std::string_view rest = u;
  std::set<std::string_view> seen;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    if (item != "SUCCESS" && item != "FAILURE" && item != "DELAY") return false;
    if (!seen.insert(item).second) return false;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  canonical = u;
  return true;
}

struct VerbName {
  std::string_view name;
  Command::Verb verb;
};

constexpr std::array<VerbName, 14> kVerbs{{
    {"EHLO", Command::Verb::Ehlo},
    {"HELO", Command::Verb::Helo},
    {"MAIL", Command::Verb::Mail},
    {"RCPT", Command::Verb::Rcpt},
    {"DATA", Command::Verb::Data},
    {"BDAT", Command::Verb::Bdat},
    {"RSET", Command::Verb::Rset},
    {"NOOP", Command::Verb::Noop},
    {"QUIT", Command::Verb::Quit},
    {"VRFY", Command::Verb::Vrfy},
    {"EXPN", Command::Verb::Expn},
    {"HELP", Command::Verb::Help},
    {"STARTTLS", Command::Verb::Starttls},
    {"AUTH", Command::Verb::Auth},
}};

}  // namespace

// ---- commands -------------------------------------------------------------------------

std::string_view to_string(Command::Verb verb) {
  for (const auto& v : kVerbs) {
    if (v.verb == verb) return v.name;
  }
  return "UNKNOWN";
}

ParseResult<Command> parse_command(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) {
    return make_reply(500, "5.5.2", "Syntax error: NUL in command");
  }
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return make_reply(500, "5.5.2", "Syntax error: bare CR or LF in command (RFC 5321 2.3.8)");
  }
  // Lenient where Postfix is: spaces or tabs around the verb and the argument.
  line = trim_wsp(line);
  std::size_t end = 0;
  while (end < line.size() && !is_wsp(line[end])) ++end;
  const std::string_view word = line.substr(0, end);
  Command cmd;
  for (const auto& v : kVerbs) {
    if (iequals(word, v.name)) {
      cmd.verb = v.verb;
      cmd.arg = std::string(trim_wsp(line.substr(end)));
      return cmd;
    }
  }
  cmd.verb = Command::Verb::Unknown;
  cmd.arg = std::string(line);
  return cmd;
}

namespace {

// "FROM:<path> params" / "TO:<path> params": the path between its brackets and the
// parameters after it; shared by MAIL and RCPT.
struct PathAndParams {
  std::string_view path;
  std::vector<Param> params;
};

ParseResult<PathAndParams> split_path_command(std::string_view arg, std::string_view keyword,
                                              const Reply& syntax) {
  arg = trim_wsp(arg);
  if (!istarts_with(arg, keyword)) return syntax;
  std::string_view rest = arg.substr(keyword.size());
  // "MAIL FROM: <a@b>" is not RFC 5321, but Postfix and most servers accept it.
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return syntax;
  const auto close = find_path_end(rest);
  if (close == std::string_view::npos) return syntax;
  PathAndParams out;
  out.path = rest.substr(1, close - 1);
  const std::string_view after = rest.substr(close + 1);
  if (!after.empty() && !is_wsp(after.front())) return syntax;
  if (auto err = split_params(after, out.params)) return *err;
  return out;
}

}  // namespace

ParseResult<MailParams> parse_mail(std::string_view arg, const AddressLimits& limits) {
  const Reply syntax = make_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  auto split = split_path_command(arg, "FROM:", syntax);
  if (auto* bad = std::get_if<Reply>(&split)) return *bad;
  const std::string_view path = std::get<PathAndParams>(split).path;
  const std::vector<Param>& params = std::get<PathAndParams>(split).params;
  MailParams out;
  for (const auto& p : params) {
    if (iequals(p.keyword, "SMTPUTF8")) out.smtputf8 = true;
  }
  auto path_result = validate_path(path, PathRole::Sender, out.smtputf8, limits);
  if (auto* r = std::get_if<Reply>(&path_result)) return *r;
  out.reverse_path = std::move(std::get<std::string>(path_result));

  std::set<std::string> seen;
  for (const auto& p : params) {
    if (auto err = check_duplicate(seen, p)) return *err;
    if (auto err = check_value_charset(p, out.smtputf8)) return *err;
    const std::string v = p.value ? std::string(*p.value) : std::string{};
    if (iequals(p.keyword, "SIZE")) {
      // RFC 1870 5: size-value = 1*20DIGIT.
      std::uint64_t n = 0;
      if (!p.value || !parse_u64(v, n)) {
        return make_reply(501, "5.5.4", "Bad message size syntax");
      }
      out.size = n;
    } else if (iequals(p.keyword, "BODY")) {
      if (iequals(v, "7BIT")) {
        out.body = MailParams::Body::SevenBit;
      } else if (iequals(v, "8BITMIME")) {
        out.body = MailParams::Body::EightBitMime;
      } else if (iequals(v, "BINARYMIME")) {
        out.body = MailParams::Body::BinaryMime;
      } else {
        return make_reply(501, "5.5.4", "Unknown BODY value");
      }
    } else if (iequals(p.keyword, "SMTPUTF8")) {
      if (p.value) return make_reply(501, "5.5.4", "SMTPUTF8 takes no value");  // RFC 6531 3.4
    } else if (iequals(p.keyword, "REQUIRETLS")) {
      if (p.value) return make_reply(501, "5.5.4", "REQUIRETLS takes no value");  // RFC 8689 4.1
      out.requiretls = true;
    } else if (iequals(p.keyword, "RET")) {
      if (!iequals(v, "FULL") && !iequals(v, "HDRS")) {
        return make_reply(501, "5.5.4", "Bad RET parameter syntax");
      }
      out.ret = upper(v);
    } else if (iequals(p.keyword, "ENVID")) {
      if (!p.value || !is_clean_xtext(v)) {
        return make_reply(501, "5.5.4", "Bad ENVID parameter syntax");
      }
      out.envid = v;
    } else if (iequals(p.keyword, "AUTH")) {
      // RFC 4954 5: AUTH=<> or AUTH=xtext (the authenticated submitter's mailbox).
      if (!p.value || (v != "<>" && !is_clean_xtext(v))) {
        return make_reply(501, "5.5.4", "Bad AUTH parameter syntax");
      }
      out.auth = v;
    } else {
      return unsupported(p);
    }
  }
  return out;
}

ParseResult<RcptParams> parse_rcpt(std::string_view arg, bool smtputf8,
                                   const AddressLimits& limits) {
  const Reply syntax = make_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  auto split = split_path_command(arg, "TO:", syntax);
  if (auto* bad = std::get_if<Reply>(&split)) return *bad;
  const std::string_view path = std::get<PathAndParams>(split).path;
  const std::vector<Param>& params = std::get<PathAndParams>(split).params;
  // RFC 5321 4.1.1.3: a forward-path is never null.
  if (path.empty()) return make_reply(501, "5.1.3", "Bad recipient address syntax: null recipient");
  auto path_result = validate_path(path, PathRole::Recipient, smtputf8, limits);
  if (auto* r = std::get_if<Reply>(&path_result)) return *r;
  RcptParams out;
  out.forward_path = std::move(std::get<std::string>(path_result));

  std::set<std::string> seen;
  for (const auto& p : params) {
    if (auto err = check_duplicate(seen, p)) return *err;
    if (auto err = check_value_charset(p, smtputf8)) return *err;
    const std::string v = p.value ? std::string(*p.value) : std::string{};
    if (iequals(p.keyword, "NOTIFY")) {
      if (!p.value || !valid_notify(v, out.notify)) {
        return make_reply(501, "5.5.4", "Bad NOTIFY parameter syntax");
      }
    } else if (iequals(p.keyword, "ORCPT")) {
      if (!p.value || !valid_orcpt(v, smtputf8)) {
        return make_reply(501, "5.5.4", "Bad ORCPT parameter syntax");
      }
      out.orcpt = v;
    } else {
      return unsupported(p);
    }
  }
  return out;
}

ParseResult<BdatParams> parse_bdat(std::string_view arg) {
  const Reply syntax = make_reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
  arg = trim_wsp(arg);
  std::size_t end = 0;
  while (end < arg.size() && !is_wsp(arg[end])) ++end;
  BdatParams out;
  if (!parse_u64(arg.substr(0, end), out.size)) return syntax;
  const std::string_view rest = trim_wsp(arg.substr(end));
  if (rest.empty()) return out;
  if (!iequals(rest, "LAST")) return syntax;
  out.last = true;
  return out;
}

ParseResult<std::string> parse_ehlo(std::string_view arg) {
  arg = trim_wsp(arg);
  if (arg.empty()) return make_reply(501, "5.5.4", "Syntax: EHLO hostname");
  // Postfix reject_invalid_helo_hostname words it this way. RFC 6531 3.7.1 wants A-labels
  // here, but U-labels are tolerated when well-formed: refusing EHLO would stop all mail,
  // and nothing we send upstream depends on the client's name.
  if ((has_8bit(arg) && !valid_utf8(arg)) || !valid_domain(arg, true, true)) {
    return make_reply(501, "5.5.2", "Invalid EHLO hostname");
  }
  return std::string(arg);
}

// ---- xtext ----------------------------------------------------------------------------

bool is_xtext(std::string_view text) {
  return decode_xtext(text).has_value();
}

std::optional<std::string> decode_xtext(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (i + 2 >= text.size()) return std::nullopt;
      if (!is_hex_upper(text[i + 1]) || !is_hex_upper(text[i + 2])) return std::nullopt;
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out += static_cast<char>(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string encode_xtext(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += static_cast<char>(c);
    } else {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

}  // namespace tlsrelay::proxy

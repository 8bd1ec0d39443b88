#include "integration/faultinject/plan.hpp"

#include <cctype>
#include <charconv>
#include <limits>

namespace tlsrelay::faultinject {

namespace {

struct ActionName {
  std::string_view name;
  Action action;
};
constexpr ActionName kActions[] = {
    {"pass", Action::Pass},        {"reset", Action::Reset},
    {"close", Action::Close},      {"stall", Action::Stall},
    {"stall-up", Action::StallUp}, {"stall-down", Action::StallDown},
    {"close-up", Action::CloseUp}, {"close-down", Action::CloseDown},
};

// Points without a number, and the aliases for the first transaction on an upstream with
// AUTH and one recipient (flight 1 is the EHLO after TLS).
struct PointName {
  std::string_view name;
  Point point;
  std::uint64_t n;
};
constexpr PointName kPoints[] = {
    {"connect", Point::Connect, 0},
    {"banner", Point::Banner, 0},
    {"ehlo", Point::Ehlo, 0},
    {"starttls", Point::Starttls, 0},
    {"starttls-reply", Point::StarttlsReply, 0},
    {"clienthello", Point::ClientHello, 0},
    {"handshake", Point::ClientHello, 0},
    {"serverhello", Point::ServerHello, 0},
    {"tls-ehlo", Point::Flight, 1},
    {"auth", Point::Flight, 2},
    {"mail", Point::Flight, 3},
    {"rcpt", Point::Flight, 4},
    {"data", Point::Flight, 5},
    {"body", Point::Flight, 6},
    {"after-dot", Point::Reply, 6},
};

struct NumberedName {
  std::string_view name;
  Point point;
};
constexpr NumberedName kNumbered[] = {
    {"flight", Point::Flight},          {"reply", Point::Reply},
    {"bytes-up", Point::BytesUp},       {"bytes-down", Point::BytesDown},
    {"after-bytes-up", Point::BytesUp}, {"after-bytes-down", Point::BytesDown},
};

class Parser {
 public:
  Parser(std::string_view s, std::string& error) : s_(s), error_(error) {}

  std::optional<Plan> plan() {
    Plan p;
    skip_space();
    if (at_end()) return fail("a rule (SELECTOR:ACTION[@POINT])");
    while (true) {
      auto r = rule();
      if (!r) return std::nullopt;
      p.rules.push_back(std::move(*r));
      skip_space();
      if (at_end()) return p;
      if (!eat(',')) return fail("',' between rules");
      skip_space();
    }
  }

 private:
  std::optional<Rule> rule() {
    const std::size_t start = pos_;
    Rule r;
    if (!selector(r.selector)) return std::nullopt;
    if (!eat(':')) return fail_rule("':' after the selector");
    const std::string_view name = word();
    bool known = false;
    for (const auto& a : kActions) {
      if (a.name == name) {
        r.action = a.action;
        known = true;
      }
    }
    if (!known) {
      pos_ -= name.size();
      return fail_rule(
          "an action: pass, reset, close, stall, stall-up, stall-down, close-up, close-down");
    }
    if (eat('@')) {
      if (r.action == Action::Pass) return fail_rule("no '@' after pass (it never fires)");
      if (!trigger(r.trigger)) return std::nullopt;
    }
    if (r.trigger.point == Point::Connect &&
        !(r.action == Action::Pass || r.action == Action::Reset || r.action == Action::Close ||
          r.action == Action::Stall)) {
      return fail_rule("reset, close or stall at connect (there is no server side yet)");
    }
    r.text = std::string(s_.substr(start, pos_ - start));
    return r;
  }

  bool selector(Selector& sel) {
    if (eat('*')) {
      sel.kind = Selector::Kind::Any;
      return true;
    }
    if (eat('%')) {
      sel.kind = Selector::Kind::Modulo;
      if (!number(sel.modulus, "a modulus after '%'")) return false;
      if (sel.modulus == 0) return fail_bool("a modulus of at least 1");
      if (!eat('=')) return fail_bool("'=' after the modulus (%K=R)");
      if (!number(sel.remainder, "a remainder after '='")) return false;
      if (sel.remainder >= sel.modulus) return fail_bool("a remainder below the modulus");
      return true;
    }
    if (eat('p')) {
      sel.kind = Selector::Kind::Probability;
      const std::size_t start = pos_;
      while (!at_end() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) {
        ++pos_;
      }
      const std::string text(s_.substr(start, pos_ - start));
      char* end = nullptr;
      sel.probability = text.empty() ? -1 : std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || sel.probability < 0 ||
          sel.probability > 1) {
        pos_ = start;
        return fail_bool("a probability between 0 and 1 after 'p' (p0.25)");
      }
      return true;
    }
    sel.kind = Selector::Kind::Range;
    if (!number(sel.first, "a selector: N, N-M, N+, %K=R, pN or *")) return false;
    if (sel.first == 0) return fail_bool("connection numbers start at 1");
    sel.last = sel.first;
    if (eat('+')) {
      sel.last = std::numeric_limits<std::uint64_t>::max();
    } else if (eat('-')) {
      if (!number(sel.last, "the end of the range N-M")) return false;
      if (sel.last < sel.first) return fail_bool("a range whose end is not below its start");
    }
    return true;
  }

  bool trigger(Trigger& t) {
    const std::size_t start = pos_;
    const std::string_view name = word();
    bool known = false;
    for (const auto& p : kPoints) {
      if (p.name == name) {
        t.point = p.point;
        t.n = p.n;
        known = true;
      }
    }
    for (const auto& p : kNumbered) {
      if (p.name == name) {
        t.point = p.point;
        known = true;
        if (!eat('=')) return fail_bool("'=N' after " + std::string(name));
        if (!number(t.n, "a number after '='")) return false;
        if (t.n == 0 && (t.point == Point::Flight || t.point == Point::Reply)) {
          return fail_bool("flights and replies are counted from 1");
        }
      }
    }
    if (!known) {
      pos_ = start;
      return fail_bool(
          "a point: connect, banner, ehlo, starttls, starttls-reply, clienthello (handshake), "
          "serverhello, tls-ehlo, auth, mail, rcpt, data, body, after-dot, flight=N, reply=N, "
          "bytes-up=N, bytes-down=N");
    }
    if (eat('+')) {
      if (t.point == Point::Connect) return fail_bool("no '+BYTES' after connect");
      if (!number(t.offset, "a byte count after '+'")) return false;
    }
    return true;
  }

  std::string_view word() {
    const std::size_t start = pos_;
    while (!at_end() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-')) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  bool number(std::uint64_t& out, const std::string& expected) {
    const char* b = s_.data() + pos_;
    const char* e = s_.data() + s_.size();
    auto [p, ec] = std::from_chars(b, e, out);
    if (ec != std::errc() || p == b) return fail_bool(expected);
    pos_ += static_cast<std::size_t>(p - b);
    return true;
  }

  bool eat(char c) {
    if (at_end() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool at_end() const { return pos_ >= s_.size(); }

  bool fail_bool(const std::string& expected) {
    error_ = "at column " + std::to_string(pos_ + 1) + ": expected " + expected;
    return false;
  }
  std::nullopt_t fail(const std::string& expected) {
    fail_bool(expected);
    return std::nullopt;
  }
  std::nullopt_t fail_rule(const std::string& expected) { return fail(expected); }

  std::string_view s_;
  std::string& error_;
  std::size_t pos_ = 0;
};

// SplitMix64: a fixed, portable mix of (seed, connection number).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool selects(const Selector& s, std::uint64_t number, std::uint64_t seed) {
  switch (s.kind) {
    case Selector::Kind::Any:
      return true;
    case Selector::Kind::Range:
      return number >= s.first && number <= s.last;
    case Selector::Kind::Modulo:
      return number % s.modulus == s.remainder;
    case Selector::Kind::Probability: {
      const double u = static_cast<double>(mix(seed * 0x100000001b3ULL ^ mix(number)) >> 11) /
                       static_cast<double>(1ULL << 53);
      return u < s.probability;
    }
  }
  return false;
}

}  // namespace

std::optional<Plan> parse_plan(std::string_view spec, std::string& error) {
  Parser p(spec, error);
  return p.plan();
}

Rule match(const Plan& plan, std::uint64_t number, std::uint64_t seed) {
  for (const Rule& r : plan.rules) {
    if (selects(r.selector, number, seed)) return r;
  }
  Rule pass;
  pass.text = "(no rule):pass";
  return pass;
}

std::string to_string(Action a) {
  for (const auto& n : kActions) {
    if (n.action == a) return std::string(n.name);
  }
  return "?";
}

std::string to_string(const Trigger& t) {
  std::string s;
  switch (t.point) {
    case Point::Connect:
      s = "connect";
      break;
    case Point::Banner:
      s = "banner";
      break;
    case Point::Ehlo:
      s = "ehlo";
      break;
    case Point::Starttls:
      s = "starttls";
      break;
    case Point::StarttlsReply:
      s = "starttls-reply";
      break;
    case Point::ClientHello:
      s = "clienthello";
      break;
    case Point::ServerHello:
      s = "serverhello";
      break;
    case Point::Flight:
      s = "flight=" + std::to_string(t.n);
      break;
    case Point::Reply:
      s = "reply=" + std::to_string(t.n);
      break;
    case Point::BytesUp:
      s = "bytes-up=" + std::to_string(t.n);
      break;
    case Point::BytesDown:
      s = "bytes-down=" + std::to_string(t.n);
      break;
  }
  if (t.offset != 0) s += "+" + std::to_string(t.offset);
  return s;
}

}  // namespace tlsrelay::faultinject

#include "integration/faultinject/phase_tracker.hpp"

#include <algorithm>
#include <cctype>

namespace tlsrelay::faultinject {

namespace {

// A line with no end in sight is passed on as it is (a binary stream, or an attack on the
// line limit): the tracker must not buffer without bound.
constexpr std::size_t kMaxUnit = 64 * 1024;
// RFC 8446 5.1/5.2: a record is at most 2^14 + 256 bytes of payload.
constexpr std::size_t kMaxRecord = 16384 + 256;

bool starts_with_word(std::string_view line, std::string_view word) {
  if (line.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(line[i])) != word[i]) return false;
  }
  return line.size() == word.size() || line[word.size()] == ' ' || line[word.size()] == '\r' ||
         line[word.size()] == '\n';
}

int idx(Dir d) {
  return static_cast<int>(d);
}
const char* name(Dir d) {
  return d == Dir::Up ? "up" : "down";
}

}  // namespace

PhaseTracker::PhaseTracker(const Trigger& trigger, bool armed) : trigger_(trigger), armed_(armed) {
  if (!armed_) return;
  if (trigger_.point == Point::BytesUp) {
    pending_ = {true, Dir::Up, trigger_.n + trigger_.offset, "bytes-up"};
  } else if (trigger_.point == Point::BytesDown) {
    pending_ = {true, Dir::Down, trigger_.n + trigger_.offset, "bytes-down"};
  }
}

std::size_t PhaseTracker::next_unit(Dir d) const {
  const std::string& b = buf_[idx(d)];
  if (b.empty()) return 0;
  if (raw_[idx(d)]) return b.size();
  if (tls_) {
    if (b.size() < 5) return 0;
    const auto type = static_cast<unsigned char>(b[0]);
    const std::size_t len = (static_cast<std::size_t>(static_cast<unsigned char>(b[3])) << 8) |
                            static_cast<unsigned char>(b[4]);
    if (type < 20 || type > 24 || len > kMaxRecord) return b.size();  // not TLS: let it through
    return b.size() >= 5 + len ? 5 + len : 0;
  }
  const std::size_t lf = b.find('\n');
  if (lf != std::string::npos) return lf + 1;
  return b.size() >= kMaxUnit ? b.size() : 0;
}

void PhaseTracker::arm(Dir d, std::uint64_t start, const std::string& what) {
  if (!armed_ || fired_ || pending_.set) return;
  pending_ = {true, d, start + trigger_.offset, what};
}

void PhaseTracker::classify(Dir d, std::string_view unit, std::uint64_t start) {
  const Point p = trigger_.point;
  if (!tls_ || raw_[idx(d)]) {
    if (d == Dir::Down) {
      if (!banner_seen_) {
        banner_seen_ = true;
        if (p == Point::Banner) arm(d, start, "banner");
      }
      // Only the last line of a reply ("250 ..." not "250-...") completes it.
      const bool last = unit.size() < 4 || unit[3] != '-';
      if (starttls_sent_ && !tls_) {
        if (!starttls_reply_seen_) {
          starttls_reply_seen_ = true;
          if (p == Point::StarttlsReply) arm(d, start, "starttls-reply");
        }
        // RFC 3207: after a 2xx, the next byte either side sends is TLS.
        if (last && !unit.empty() && unit[0] == '2') tls_ = true;
      }
    } else {
      if (!ehlo_seen_ && (starts_with_word(unit, "EHLO") || starts_with_word(unit, "HELO"))) {
        ehlo_seen_ = true;
        if (p == Point::Ehlo) arm(d, start, "ehlo");
      } else if (!starttls_sent_ && starts_with_word(unit, "STARTTLS")) {
        starttls_sent_ = true;
        if (p == Point::Starttls) arm(d, start, "starttls");
      }
    }
    return;
  }
  const auto type = static_cast<unsigned char>(unit[0]);
  const std::uint64_t n = ++records_[idx(d)];
  if (d == Dir::Up) {
    if (n == 1 && p == Point::ClientHello) arm(d, start, "clienthello");
    if (!handshake_done_) {
      // The client's Finished is the record after its ChangeCipherSpec (TLS 1.2 and 1.3 in
      // middlebox-compatibility mode) or, without one, its first encrypted record (1.3).
      if (type == 20) {
        ccs_up_ = true;
      } else if (ccs_up_ || type == 23) {
        handshake_done_ = true;
      }
      return;
    }
    if (answered_) {
      ++flight_;
      answered_ = false;
      if (p == Point::Flight && trigger_.n == flight_) {
        arm(d, start, "flight=" + std::to_string(flight_));
      }
    }
  } else {
    if (n == 1 && p == Point::ServerHello) arm(d, start, "serverhello");
    if (handshake_done_ && flight_ > 0 && !answered_) {
      answered_ = true;
      if (p == Point::Reply && trigger_.n == flight_) {
        arm(d, start, "reply=" + std::to_string(flight_));
      }
    }
  }
}

PhaseTracker::Step PhaseTracker::feed(Dir d, std::string_view bytes) {
  Step step;
  std::string& b = buf_[idx(d)];
  b.append(bytes);
  while (!step.fire) {
    std::size_t len = next_unit(d);
    if (len == 0) break;
    const std::uint64_t start = pos_[idx(d)];
    // A unit that stopped parsing as its framing marks the stream raw from here on.
    if (len == b.size() && tls_ && !raw_[idx(d)] && b.size() >= 5) {
      const auto type = static_cast<unsigned char>(b[0]);
      const std::size_t rl = (static_cast<std::size_t>(static_cast<unsigned char>(b[3])) << 8) |
                             static_cast<unsigned char>(b[4]);
      if (type < 20 || type > 24 || rl > kMaxRecord) raw_[idx(d)] = true;
    }
    classify(d, std::string_view(b).substr(0, len), start);
    if (pending_.set && !fired_ && pending_.dir == d && pending_.pos < start + len) {
      const std::size_t keep =
          pending_.pos > start ? static_cast<std::size_t>(pending_.pos - start) : 0;
      step.forward.append(b, 0, keep);
      pos_[idx(d)] += keep;
      b.erase(0, keep);
      step.fire = true;
      fired_ = true;
      step.at = pending_.what + " " + name(d) + "@" + std::to_string(pending_.pos);
      break;
    }
    step.forward.append(b, 0, len);
    pos_[idx(d)] += len;
    b.erase(0, len);
  }
  return step;
}

std::string PhaseTracker::phase() const {
  if (handshake_done_) {
    return flight_ == 0 ? "tls-established"
                        : (answered_ ? "reply=" : "flight=") + std::to_string(flight_);
  }
  if (tls_) return records_[1] > 0 ? "tls-handshake(server)" : "tls-handshake(client)";
  if (starttls_reply_seen_) return "starttls-reply";
  if (starttls_sent_) return "starttls";
  if (ehlo_seen_) return "ehlo";
  if (banner_seen_) return "banner";
  return "connected";
}

}  // namespace tlsrelay::faultinject

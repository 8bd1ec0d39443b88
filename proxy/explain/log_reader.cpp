#include "proxy/explain/log_reader.hpp"

#include <algorithm>
#include <functional>

#include "common/text.hpp"
#include "proxy/explain/mta_shapes.hpp"

namespace tlsrelay::explain {

namespace {

constexpr std::size_t kMaxAddress = 64;
constexpr std::size_t kMaxQueueId = 32;
constexpr std::size_t kMaxStage = 64;
constexpr std::size_t kMaxDetail = 300;
constexpr int kMaxReasons = 4;
// Postfix writes tls_print_errors() right after "SSL_connect error" (src/tls/tls_client.c):
// a reason that comes later than this is not that handshake's.
constexpr std::int64_t kHoldSeconds = 5;

std::uint64_t held_key(std::string_view host, std::uint8_t programs, std::int64_t pid) {
  const std::uint64_t h = std::hash<std::string_view>{}(host);
  return h ^ (static_cast<std::uint64_t>(pid + 1) * 0x9E3779B97F4A7C15ull) ^ programs;
}

void add_unique(std::vector<FailureClass>& to, const std::vector<FailureClass>& from) {
  for (FailureClass c : from) {
    if (std::find(to.begin(), to.end(), c) == to.end()) to.push_back(c);
  }
}

// printable() may end an escape and add "..." past its max: ask for six less, so that a
// field is never longer than its bound.
std::string bounded(std::string_view text, std::size_t max) {
  return printable(text, max - 6);
}

LogEvent make_event(const LogLine& line, const Recognised& r, std::uint64_t line_no) {
  LogEvent e;
  e.time = line.time;
  e.mta = r.shape->mta;
  e.direction = r.direction;
  e.kind = r.kind;
  e.host = bounded(r.host, kMaxHost);
  e.address = bounded(r.address, kMaxAddress);
  e.port = r.port;
  e.queue_id = bounded(r.queue_id, kMaxQueueId);
  e.stage = bounded(r.stage, kMaxStage);
  e.detail = bounded(r.detail, kMaxDetail);
  if (is_failure(r.kind)) e.candidates = r.candidates;
  e.sums_up = r.shape->sums_up;
  e.line_no = line_no;
  return e;
}

}  // namespace

bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    unsigned cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += len;
  }
  return true;
}

LogReader::LogReader(ReaderOptions o) : opts_(o), parser_(o.now_unix) {
  if (opts_.max_line == 0) opts_.max_line = 1;
  if (opts_.max_pending == 0) opts_.max_pending = 1;
}

void LogReader::emit(LogEvent&& e, std::vector<LogEvent>& out) {
  ++stats_.events;
  out.push_back(std::move(e));
}

void LogReader::hold(std::uint64_t key, LogEvent&& e, bool default_classes,
                     std::vector<LogEvent>& out) {
  if (held_.size() >= opts_.max_pending) {
    auto oldest = held_.begin();
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if (it->second.order < oldest->second.order) oldest = it;
    }
    ++stats_.evicted;
    emit(std::move(oldest->second.event), out);
    held_.erase(oldest);
  }
  Held h;
  h.event = std::move(e);
  h.order = ++order_;
  h.default_classes = default_classes;
  held_[key] = std::move(h);
}

void LogReader::release_older_than(std::int64_t unix_s, std::vector<LogEvent>& out) {
  std::vector<Held> due;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.event.time.unix_s < unix_s) {
      due.push_back(std::move(it->second));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(due.begin(), due.end(), [](const Held& a, const Held& b) { return a.order < b.order; });
  for (Held& h : due) emit(std::move(h.event), out);
}

void LogReader::feed(std::string_view line, std::vector<LogEvent>& out) {
  ++stats_.lines;
  ++line_no_;
  if (line.size() > opts_.max_line) {
    ++stats_.cut;
    line = line.substr(0, opts_.max_line);
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  LogLine l;
  if (!parser_.parse(line, l, scratch_)) {
    ++stats_.skipped;
    ++stats_.not_log;
    return;
  }
  if (!held_.empty() && l.time.unix_s > last_sweep_) {
    last_sweep_ = l.time.unix_s;
    release_older_than(l.time.unix_s - kHoldSeconds, out);
  }
  const std::uint8_t programs = classify_program(l.program);
  if (programs == kNotMta) {
    ++stats_.skipped;
    return;
  }
  if (!is_utf8(l.message)) ++stats_.not_utf8;
  const std::uint64_t key = held_key(l.host, programs, l.pid);
  auto held = held_.empty() ? held_.end() : held_.find(key);

  Recognised r;
  const bool ok = recognise(programs, l.message, r);
  if (ok && r.shape->correlate == Correlate::Continues && held != held_.end()) {
    ++stats_.recognised;
    Held& h = held->second;
    if (h.reasons < kMaxReasons) {
      ++h.reasons;
      std::string d = h.event.detail + "; " + bounded(r.detail, kMaxDetail);
      if (d.size() > kMaxDetail) {
        d.resize(kMaxDetail - 3);
        d += "...";
      }
      h.event.detail = std::move(d);
      if (h.default_classes) {
        h.event.candidates = r.candidates;
        h.default_classes = false;
      } else {
        add_unique(h.event.candidates, r.candidates);
      }
    }
    return;
  }
  if (held != held_.end()) {
    LogEvent e = std::move(held->second.event);
    held_.erase(held);
    emit(std::move(e), out);
  }
  if (!ok) {
    ++stats_.skipped;
    return;
  }
  ++stats_.recognised;
  LogEvent e = make_event(l, r, line_no_);
  if (r.shape->correlate == Correlate::Continues && programs == kPostfixServer) {
    e.direction = Direction::Inbound;  // a reason with no opening line: smtpd's own
  }
  if (r.shape->correlate == Correlate::Opens) {
    const bool guess = r.candidates.size() == 1 && r.candidates[0] == FailureClass::TlsError;
    hold(key, std::move(e), guess, out);
    return;
  }
  emit(std::move(e), out);
}

void LogReader::finish(std::vector<LogEvent>& out) {
  std::vector<Held> rest;
  rest.reserve(held_.size());
  for (auto& [k, h] : held_) rest.push_back(std::move(h));
  held_.clear();
  std::sort(rest.begin(), rest.end(),
            [](const Held& a, const Held& b) { return a.order < b.order; });
  for (Held& h : rest) emit(std::move(h.event), out);
}

}  // namespace tlsrelay::explain

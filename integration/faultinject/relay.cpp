#include "integration/faultinject/relay.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "integration/faultinject/phase_tracker.hpp"

namespace tlsrelay::faultinject {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

// One relayed connection: the client (tlsrelay) on one side, the target on the other.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket client, std::shared_ptr<Injector> injector, std::uint64_t number,
             Rule rule)
      : client_(std::move(client)),
        server_(client_.get_executor()),
        timer_(client_.get_executor()),
        injector_(std::move(injector)),
        number_(number),
        rule_(std::move(rule)),
        tracker_(rule_.trigger, rule_.action != Action::Pass),
        start_(std::chrono::steady_clock::now()) {}

  ~Connection() {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start_)
                        .count();
    log("event=end fired=" + std::string(fired_ ? "yes" : "no") + " phase=" + tracker_.phase() +
        " up_bytes=" + std::to_string(tracker_.bytes(Dir::Up)) +
        " down_bytes=" + std::to_string(tracker_.bytes(Dir::Down)) + " ms=" + std::to_string(ms));
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    log("event=accept rule=\"" + rule_.text + "\"");
    if (rule_.action != Action::Pass && rule_.trigger.point == Point::Connect) {
      fire(Dir::Up, "connect");
      if (rule_.action == Action::Stall) co_await drain_client();
      co_return;
    }
    timer_.expires_after(millis(injector_->settings().connect_timeout_s));
    std::weak_ptr<Connection> weak = self;
    timer_.async_wait([weak](boost::system::error_code ec) {
      if (auto c = weak.lock(); c && !ec) c->server_.close();
    });
    auto [ec] = co_await server_.async_connect(injector_->settings().target, kTuple);
    timer_.cancel();
    if (ec) {
      log("event=target-failed error=\"" + ec.message() + "\"");
      abort_both();
      co_return;
    }
    boost::system::error_code ignored;
    server_.set_option(tcp::no_delay(true), ignored);
    client_.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(client_.get_executor(), self->pump(Dir::Up), asio::detached);
    asio::co_spawn(client_.get_executor(), self->pump(Dir::Down), asio::detached);
  }

 private:
  tcp::socket& source(Dir d) { return d == Dir::Up ? client_ : server_; }
  tcp::socket& sink(Dir d) { return d == Dir::Up ? server_ : client_; }
  int idx(Dir d) const { return static_cast<int>(d); }

  asio::awaitable<void> pump(Dir d) {
    auto self = shared_from_this();
    std::array<char, 16384> buf;
    while (!closed_) {
      auto [ec, n] = co_await source(d).async_read_some(asio::buffer(buf), kTuple);
      if (closed_) co_return;
      if (ec) {
        source_ended(d, ec);
        co_return;
      }
      if (discarding_[idx(d)]) continue;  // a stalled direction: read and drop
      PhaseTracker::Step step = tracker_.feed(d, std::string_view(buf.data(), n));
      if (!step.forward.empty() && !co_await forward(d, step.forward)) co_return;
      if (!step.fire) continue;
      fire(d, step.at);
      if (closed_ || discarding_[idx(d)]) continue;
      // The fault is about the other direction: what this one held back goes on.
      PhaseTracker::Step rest = tracker_.feed(d, {});
      if (!rest.forward.empty() && !co_await forward(d, rest.forward)) co_return;
    }
  }

  asio::awaitable<bool> forward(Dir d, const std::string& bytes) {
    auto [ec, n] = co_await asio::async_write(sink(d), asio::buffer(bytes), kTuple);
    if (ec && !closed_) {
      log("event=write-failed dir=" + std::string(d == Dir::Up ? "up" : "down") + " error=\"" +
          ec.message() + "\"");
      abort_both();
    }
    co_return !ec && !closed_;
  }

  // The far side of direction d closed or failed: pass that on as it happened.
  void source_ended(Dir d, const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (ec == asio::error::eof && !stalled_) {
      ended_[idx(d)] = true;
      sink(d).shutdown(tcp::socket::shutdown_send, ignored);
      if (ended_[0] && ended_[1]) close_both();
      return;
    }
    if (ec == asio::error::eof) {
      close_both();  // one side of a stalled connection gave up
    } else {
      abort_both();
    }
  }

  void fire(Dir d, const std::string& at) {
    fired_ = true;
    injector_->count_fired(rule_.action);
    log("event=fired action=" + to_string(rule_.action) + " at=\"" + at +
        "\" phase=" + tracker_.phase() + " up_bytes=" + std::to_string(tracker_.bytes(Dir::Up)) +
        " down_bytes=" + std::to_string(tracker_.bytes(Dir::Down)) +
        " dir=" + (d == Dir::Up ? "up" : "down") + " rule=\"" + rule_.text + "\"");
    boost::system::error_code ignored;
    switch (rule_.action) {
      case Action::Pass:
        break;
      case Action::Reset:
        abort_both();
        break;
      case Action::Close:
        close_both();
        break;
      case Action::Stall:
        discarding_[0] = discarding_[1] = true;
        stalled_ = true;
        arm_stall_limit();
        break;
      case Action::StallUp:
        discarding_[idx(Dir::Up)] = true;
        stalled_ = true;
        arm_stall_limit();
        break;
      case Action::StallDown:
        discarding_[idx(Dir::Down)] = true;
        stalled_ = true;
        arm_stall_limit();
        break;
      case Action::CloseUp:
        discarding_[idx(Dir::Up)] = true;
        server_.shutdown(tcp::socket::shutdown_send, ignored);
        break;
      case Action::CloseDown:
        discarding_[idx(Dir::Down)] = true;
        client_.shutdown(tcp::socket::shutdown_send, ignored);
        break;
    }
  }

  // A stall keeps the sockets open until a side gives up, but never for ever.
  void arm_stall_limit() {
    timer_.expires_after(millis(injector_->settings().stall_max_s));
    std::weak_ptr<Connection> weak = shared_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
      if (auto c = weak.lock(); c && !ec) {
        c->log("event=stall-limit");
        c->close_both();
      }
    });
  }

  // A stall at connect: keep the client's socket open, say nothing, until it leaves.
  asio::awaitable<void> drain_client() {
    stalled_ = true;
    arm_stall_limit();
    std::array<char, 4096> buf;
    while (!closed_) {
      auto [ec, n] = co_await client_.async_read_some(asio::buffer(buf), kTuple);
      if (ec) break;
    }
    close_both();
  }

  // RST: SO_LINGER with a zero time-out makes close() send a reset (RFC 793 "ABORT").
  void abort_both() {
    if (closed_) return;
    boost::system::error_code ignored;
    for (tcp::socket* s : {&client_, &server_}) {
      if (!s->is_open()) continue;
      s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
    closed_ = true;
    timer_.cancel();
  }

  void close_both() {
    if (closed_) return;
    boost::system::error_code ignored;
    for (tcp::socket* s : {&client_, &server_}) {
      if (!s->is_open()) continue;
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    }
    closed_ = true;
    timer_.cancel();
  }

  void log(const std::string& text) {
    injector_->log("conn=" + std::to_string(number_) + " " + text);
  }

  tcp::socket client_;
  tcp::socket server_;
  asio::steady_timer timer_;
  std::shared_ptr<Injector> injector_;
  std::uint64_t number_;
  Rule rule_;
  PhaseTracker tracker_;
  std::chrono::steady_clock::time_point start_;
  bool fired_ = false;
  bool closed_ = false;
  bool stalled_ = false;
  bool discarding_[2] = {false, false};
  bool ended_[2] = {false, false};
};

}  // namespace

Injector::Injector(const Settings& s) : settings_(s), plan_(s.plan), plan_text_(s.plan_text) {
  if (!s.log_path.empty()) file_.open(s.log_path, std::ios::app);
}

void Injector::log(const std::string& line) {
  const std::string text = "faultinject ts=" + timestamp() + " " + line + "\n";
  std::cerr << text << std::flush;
  if (file_.is_open()) file_ << text << std::flush;
}

std::pair<std::uint64_t, Rule> Injector::next_rule() {
  ++total_;
  ++number_;
  return {number_, match(plan_, number_, settings_.seed)};
}

void Injector::load(const Plan& plan, const std::string& text) {
  plan_ = plan;
  plan_text_ = text;
  number_ = 0;
  ++generation_;
  log("event=plan generation=" + std::to_string(generation_) + " plan=\"" + text + "\"");
}

void Injector::count_fired(Action a) {
  ++fired_;
  ++fired_by_[static_cast<int>(a)];
}

std::string Injector::stats() const {
  std::string s = "connections=" + std::to_string(total_) +
                  " since_plan=" + std::to_string(number_) + " fired=" + std::to_string(fired_);
  for (int a = 1; a < 8; ++a) {
    if (fired_by_[a] != 0) {
      s += " " + to_string(static_cast<Action>(a)) + "=" + std::to_string(fired_by_[a]);
    }
  }
  return s + " plan=\"" + plan_text_ + "\"";
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::shared_ptr<Injector> injector) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // EMFILE and friends: the next accept may work
    auto [number, rule] = injector->next_rule();
    auto conn = std::make_shared<Connection>(std::move(socket), injector, number, rule);
    asio::co_spawn(acceptor.get_executor(), conn->run(), asio::detached);
  }
}

namespace {

asio::awaitable<void> control_session(tcp::socket socket, std::shared_ptr<Injector> injector) {
  std::string in;
  while (true) {
    auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), '\n', kTuple);
    if (ec) co_return;
    std::string line = in.substr(0, n);
    in.erase(0, n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::string answer;
    if (line.rfind("plan ", 0) == 0 || line == "off") {
      const std::string spec = line == "off" ? "*:pass" : line.substr(5);
      std::string error;
      if (auto plan = parse_plan(spec, error)) {
        injector->load(*plan, spec);
        answer = "ok";
      } else {
        answer = "error: " + error;
      }
    } else if (line == "stats") {
      answer = "ok " + injector->stats();
    } else {
      answer = "error: unknown command (plan SPEC | off | stats)";
    }
    answer += "\n";
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(answer), kTuple);
    if (wec) co_return;
  }
}

}  // namespace

asio::awaitable<void> control_loop(tcp::acceptor& acceptor, std::shared_ptr<Injector> injector) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    asio::co_spawn(acceptor.get_executor(), control_session(std::move(socket), injector),
                   asio::detached);
  }
}

}  // namespace tlsrelay::faultinject

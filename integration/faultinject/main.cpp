// tlsrelay-faultinject: a TCP relay that breaks chosen connections at chosen moments of the
// SMTP/TLS dialogue. See integration/README.md for the plan language and the log format.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <charconv>
#include <iostream>
#include <string>
#include <vector>

#include "integration/faultinject/relay.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace tlsrelay::faultinject;

namespace {

constexpr const char* kUsage =
    "usage: tlsrelay-faultinject --target ADDR:PORT [options]\n"
    "       tlsrelay-faultinject ctl ADDR:PORT COMMAND...   (plan SPEC | off | stats)\n"
    "  --listen ADDR:PORT     where tlsrelay connects (default 127.0.0.1:0)\n"
    "  --target ADDR:PORT     the real upstream\n"
    "  --plan SPEC            which connection gets which fault (default *:pass)\n"
    "  --seed N               seed for pP selectors (default 1)\n"
    "  --control ADDR:PORT    line-based control channel: plan SPEC | off | stats\n"
    "  --log FILE             also append every log line to FILE\n"
    "  --stall-max SECONDS    a stalled connection is closed after this (default 300)\n"
    "  --connect-timeout S    connecting to the target (default 5)\n"
    "  --watch-stdin          stop at end of standard input\n"
    "Prints 'ready PORT' on stdout once it accepts; logs one line per event on stderr.\n";

[[noreturn]] void usage_error(const std::string& why) {
  std::cerr << "tlsrelay-faultinject: " << why << "\n";
  std::exit(2);
}

tcp::endpoint endpoint(const std::string& text, const std::string& option) {
  // ADDR:PORT or [IPv6]:PORT, numeric only.
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) usage_error(option + " needs ADDR:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const std::string p = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port > 65535) {
    usage_error(option + ": bad port in '" + text + "'");
  }
  boost::system::error_code aec;
  auto addr = asio::ip::make_address(host, aec);
  if (aec) usage_error(option + ": not a numeric address: '" + host + "'");
  return {addr, static_cast<unsigned short>(port)};
}

double seconds(const std::string& text, const std::string& option) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || v <= 0) usage_error(option + " needs seconds > 0");
  return v;
}

int ctl(const std::vector<std::string>& args) {
  if (args.size() < 2) usage_error("ctl needs ADDR:PORT and a command");
  std::string command;
  for (std::size_t i = 1; i < args.size(); ++i) command += (i > 1 ? " " : "") + args[i];
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(endpoint(args[0], "ctl"), ec);
  if (ec) {
    std::cerr << "tlsrelay-faultinject: ctl: " << ec.message() << "\n";
    return 1;
  }
  command += "\n";
  asio::write(s, asio::buffer(command), ec);
  std::string answer;
  asio::read_until(s, asio::dynamic_buffer(answer), '\n', ec);
  std::cout << answer;
  return answer.rfind("ok", 0) == 0 ? 0 : 1;
}

asio::awaitable<void> watch_stdin(asio::posix::stream_descriptor& in) {
  std::array<char, 256> buf;
  while (true) {
    auto [ec, n] =
        co_await in.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
  }
  static_cast<asio::io_context&>(in.get_executor().context()).stop();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "ctl") return ctl({args.begin() + 1, args.end()});
  Settings s;
  s.listen = endpoint("127.0.0.1:0", "--listen");
  bool have_target = false, watch = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) usage_error(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << "tlsrelay-faultinject 0.1.0\n";
      return 0;
    } else if (a == "--listen") {
      s.listen = endpoint(value(), a);
    } else if (a == "--target") {
      s.target = endpoint(value(), a);
      have_target = true;
    } else if (a == "--control") {
      s.control = endpoint(value(), a);
      s.has_control = true;
    } else if (a == "--plan") {
      s.plan_text = value();
    } else if (a == "--seed") {
      const std::string v = value();
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s.seed);
      if (ec != std::errc() || end != v.data() + v.size()) usage_error("--seed needs a number");
    } else if (a == "--log") {
      s.log_path = value();
    } else if (a == "--stall-max") {
      s.stall_max_s = seconds(value(), a);
    } else if (a == "--connect-timeout") {
      s.connect_timeout_s = seconds(value(), a);
    } else if (a == "--watch-stdin") {
      watch = true;
    } else {
      usage_error("unknown option '" + a + "' (see --help)");
    }
  }
  if (!have_target) usage_error("--target ADDR:PORT is required");
  std::string error;
  auto plan = parse_plan(s.plan_text, error);
  if (!plan) usage_error("--plan " + error);
  s.plan = *plan;
  signal(SIGPIPE, SIG_IGN);

  asio::io_context io;
  auto injector = std::make_shared<Injector>(s);
  tcp::acceptor acceptor(io);
  tcp::acceptor control(io);
  try {
    acceptor.open(s.listen.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(s.listen);
    acceptor.listen(asio::socket_base::max_listen_connections);
    if (s.has_control) {
      control.open(s.control.protocol());
      control.set_option(tcp::acceptor::reuse_address(true));
      control.bind(s.control);
      control.listen();
    }
  } catch (const std::exception& e) {
    std::cerr << "tlsrelay-faultinject: cannot listen: " << e.what() << "\n";
    return 1;
  }
  const auto port = acceptor.local_endpoint().port();
  injector->log("event=start listen=" + acceptor.local_endpoint().address().to_string() + ":" +
                std::to_string(port) + " target=" + s.target.address().to_string() + ":" +
                std::to_string(s.target.port()) +
                (s.has_control ? " control_port=" + std::to_string(control.local_endpoint().port())
                               : std::string()) +
                " seed=" + std::to_string(s.seed) + " plan=\"" + s.plan_text + "\"");
  asio::co_spawn(io, accept_loop(acceptor, injector), asio::detached);
  if (s.has_control) asio::co_spawn(io, control_loop(control, injector), asio::detached);
  asio::posix::stream_descriptor in(io, ::dup(0));
  if (watch) asio::co_spawn(io, watch_stdin(in), asio::detached);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  std::cout << "ready " << port << std::endl;
  io.run();
  injector->log("event=stop " + injector->stats());
  return 0;
}

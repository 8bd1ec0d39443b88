#include "integration/rig.hpp"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/failure_class.hpp"
#include "tests/e2e/fixture.hpp"

namespace tlsrelay::integration {

using e2e::free_port;
using e2e::read_file;
using e2e::run;
using e2e::RunResult;

namespace {

const std::string& dir_of_scripts() {
  static const std::string d = std::string(TLSRELAY_SOURCE_DIR) + "/integration";
  return d;
}

bool answers_220(unsigned short port) {
  try {
    e2e::SmtpClient c(port);
    return e2e::SmtpClient::code(c.reply(std::chrono::seconds(2))) == 220;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    poll(nullptr, 0, 50);
  }
  return ready();
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const std::string& faultinject_bin() {
  static const std::string p = FAULTINJECT_BIN;
  return p;
}

const char* const kSoakPlan =
    "%25=1:reset@connect,%25=2:close@connect,%25=3:close@banner,%25=4:stall@banner,"
    "%25=5:reset@ehlo,%25=6:close@starttls,%25=7:reset@starttls-reply,"
    "%25=8:reset@clienthello,%25=9:stall@serverhello+200,%25=10:reset@tls-ehlo,"
    "%25=11:close@auth,%25=12:reset@mail,%25=13:reset@rcpt,%25=14:stall@data,"
    "%25=15:reset@body+200,%25=16:stall-up@body+300,%25=17:reset@after-dot,"
    "%25=18:stall-down@after-dot,%25=19:close@after-dot,%25=20:reset@flight=7,"
    "%25=21:reset@flight=8,%25=22:reset@reply=11,*:pass";

// ---- Smarthost -------------------------------------------------------------------------

const std::string& Smarthost::user() {
  static const std::string u = "relay@mx.test";
  return u;
}
const std::string& Smarthost::password() {
  static const std::string p = "relay-secret";
  return p;
}

Smarthost::Smarthost(const std::string& cert_dir) : port_(free_port()) {
  chmod(dir_.path().c_str(), 0755);
  // Postfix's processes (user postfix) read the certificates.
  chmod(cert_dir.c_str(), 0755);
  RunResult r = run({dir_of_scripts() + "/smarthost.sh", "start", dir_.path() + "/sh",
                     std::to_string(port_), cert_dir, user(), password()});
  INFO("smarthost start: " << r.out << r.err << maillog());
  REQUIRE(r.exit_code == 0);
  REQUIRE(wait_until([&] { return answers_220(port_); }, std::chrono::seconds(20)));
}

Smarthost::~Smarthost() {
  run({dir_of_scripts() + "/smarthost.sh", "stop", dir_.path() + "/sh"});
}

std::string Smarthost::maillog() const {
  return read_file(dir_.path() + "/sh/pf/maillog");
}

bool Smarthost::queue_empty() const {
  RunResult r = run({dir_of_scripts() + "/smarthost.sh", "queue", dir_.path() + "/sh"});
  return r.exit_code == 0 && r.out.find('{') == std::string::npos;
}

void Smarthost::set_cert(const std::string& name) {
  RunResult r = run({dir_of_scripts() + "/smarthost.sh", "cert", dir_.path() + "/sh", name});
  INFO("smarthost cert " << name << ": " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

std::vector<std::string> Smarthost::delivered_messages() const {
  std::vector<std::string> out;
  for (const char* sub : {"/sh/mail/sink/new", "/sh/mail/sink/cur"}) {
    const std::string d = dir_.path() + sub;
    DIR* dir = opendir(d.c_str());
    if (!dir) continue;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') out.push_back(read_file(d + "/" + e->d_name));
    }
    closedir(dir);
  }
  return out;
}

std::vector<std::string> Smarthost::delivered(const std::string& header) const {
  std::vector<std::string> out;
  const std::string key = header + ": ";
  for (const std::string& message : delivered_messages()) {
    std::istringstream in(message);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line == "\r") break;  // end of the header section
      if (line.rfind(key, 0) == 0) {
        std::string v = line.substr(key.size());
        if (!v.empty() && v.back() == '\r') v.pop_back();
        out.push_back(v);
        break;
      }
    }
  }
  return out;
}

// ---- FrontPostfix ----------------------------------------------------------------------

FrontPostfix::FrontPostfix(unsigned short relay_port, const std::string& extra)
    : FrontPostfix("[127.0.0.1]:" + std::to_string(relay_port), extra) {}

FrontPostfix::FrontPostfix(const std::string& relayhost, const std::string& extra)
    : port_(free_port()) {
  chmod(dir_.path().c_str(), 0755);
  std::vector<std::string> argv = {dir_of_scripts() + "/postfix-instance.sh", "start",
                                   dir_.path() + "/pf", std::to_string(port_), relayhost};
  if (!extra.empty()) {
    const std::string settings = dir_.path() + "/extra.cf";
    std::ofstream(settings) << extra;
    argv.push_back(settings);
  }
  RunResult r = run(argv);
  INFO("postfix start: " << r.out << r.err << maillog());
  REQUIRE(r.exit_code == 0);
  REQUIRE(wait_until([&] { return answers_220(port_); }, std::chrono::seconds(20)));
}

FrontPostfix::~FrontPostfix() {
  run({dir_of_scripts() + "/postfix-instance.sh", "stop", dir_.path() + "/pf"});
}

std::string FrontPostfix::maillog() const {
  return read_file(dir_.path() + "/pf/maillog");
}

std::string FrontPostfix::queue() const {
  return run({dir_of_scripts() + "/postfix-instance.sh", "queue", dir_.path() + "/pf"}).out;
}

bool FrontPostfix::queue_empty() const {
  RunResult r = run({dir_of_scripts() + "/postfix-instance.sh", "queue", dir_.path() + "/pf"});
  return r.exit_code == 0 && r.out.find('{') == std::string::npos;
}

void FrontPostfix::flush() const {
  run({dir_of_scripts() + "/postfix-instance.sh", "flush", dir_.path() + "/pf"});
}

void FrontPostfix::hold(const std::string& queue_id) const {
  run({dir_of_scripts() + "/postfix-instance.sh", "run", dir_.path() + "/pf", "postsuper", "-h",
       queue_id});
}

void FrontPostfix::release_all() const {
  run({dir_of_scripts() + "/postfix-instance.sh", "run", dir_.path() + "/pf", "postsuper", "-H",
       "ALL"});
}

// ---- Injector --------------------------------------------------------------------------

Injector::Injector(unsigned short target_port, const std::string& plan, std::uint64_t seed)
    : control_port_(free_port()), log_path_(dir_.path() + "/faultinject.log") {
  server_ = std::make_unique<e2e::Server>(std::vector<std::string>{
      faultinject_bin(), "--target", "127.0.0.1:" + std::to_string(target_port), "--control",
      "127.0.0.1:" + std::to_string(control_port_), "--plan", plan, "--seed", std::to_string(seed),
      "--log", log_path_, "--stall-max", "60", "--watch-stdin"});
}

std::string Injector::ctl(const std::string& command) const {
  RunResult r =
      run({faultinject_bin(), "ctl", "127.0.0.1:" + std::to_string(control_port_), command},
          std::chrono::seconds(10));
  return r.out;
}

std::string Injector::log() const {
  return read_file(log_path_);
}

std::map<std::string, int> Injector::fired() const {
  std::map<std::string, int> m;
  std::istringstream in(log());
  std::string line;
  static const std::regex at(R"( event=fired action=\S+ at="([^ "]+))");
  std::smatch sm;
  while (std::getline(in, line)) {
    if (std::regex_search(line, sm, at)) ++m[sm[1].str()];
  }
  return m;
}

// ---- Relay -----------------------------------------------------------------------------

Relay::Relay(unsigned short upstream_port, const std::string& ca_file, const std::string& extra,
             bool reuse, const RelayInstance& instance)
    : instance_(instance), port_(free_port()) {
  const std::string secret = dir_.path() + "/smarthost.secret";
  { std::ofstream(secret) << Smarthost::password(); }
  chmod(secret.c_str(), 0600);
  config_ = dir_.path() + "/relay.toml";
  std::ofstream f(config_);
  // Postfix connects to 127.0.0.x from 127.0.0.1 or from 127.0.0.x (the kernel's choice).
  f << "[proxy]\nlisten = [\"" << instance_.address << ":" << port_ << "\"]\nhostname = \""
    << instance_.hostname << "\"\nallow_clients = [\"127.0.0.0/8\"]\n"
    << "max_connections = 1000\nmax_connections_per_client = 1000\n"
    << (reuse ? "" : "pool_size_per_upstream = 0\n")
    << "[proxy.timeouts]\ncommand_s = 3\ndata_block_s = 30\ndata_done_s = 3\n\n"
    << "[tls]\nca_file = \"" << ca_file << "\"\n"
    << (reuse ? "" : "session_resumption = false\n") << "\n"
    << "[log]\nevents = \"" << dir_.path() << "/events.jsonl\"\n\n";
  if (instance_.http) {
    http_port_ = free_port();
    f << "[http]\nlisten = \"" << instance_.address << ":" << http_port_ << "\"\n\n";
  }
  f << "[[upstream]]\nname = \"smarthost\"\nhost = \"mx.test\"\nport = " << upstream_port
    << "\nconnect = \"127.0.0.1\"\ntimeout_s = 2\nauth_user = \"" << Smarthost::user()
    << "\"\nauth_password_file = \"" << secret << "\"\n\n"
    << extra << "\n";
  f.close();
  start();
}

void Relay::start() {
  // TLSRELAY_RIG_TLSRELAY: run the rig against another build of tlsrelay (bisecting).
  const char* other = std::getenv("TLSRELAY_RIG_TLSRELAY");
  const std::string bin = other && *other ? other : e2e::tlsrelay_bin();
  server_ =
      std::make_unique<e2e::Server>(std::vector<std::string>{bin, "serve", "--config", config_});
}

void Relay::kill9() {
  REQUIRE(server_);
  ::kill(server_->pid(), SIGKILL);
  earlier_log_ += server_->stderr_text();
  server_.reset();  // reaps it
}

void Relay::restart() {
  start();
}

std::string Relay::nexthop() const {
  return "[" + instance_.address + "]:" + std::to_string(port_);
}

std::string Relay::metrics() const {
  if (!instance_.http || !server_) return "";
  RunResult r = run({"curl", "-sS", "--fail", "--max-time", "5",
                     "http://" + instance_.address + ":" + std::to_string(http_port_) + "/metrics"},
                    std::chrono::seconds(10));
  return r.exit_code == 0 ? r.out : std::string();
}

std::string Relay::log() const {
  return earlier_log_ + (server_ ? server_->stderr_text() : std::string());
}

std::string Relay::events() const {
  return read_file(dir_.path() + "/events.jsonl");
}

// ---- Submitter -------------------------------------------------------------------------

Submitter::Submitter(unsigned short port) : client_(std::make_unique<e2e::SmtpClient>(port)) {
  REQUIRE(e2e::SmtpClient::code(client_->reply()) == 220);
  REQUIRE(e2e::SmtpClient::code(client_->cmd("EHLO submitter.test")) == 250);
}

Submitter::~Submitter() {
  try {
    client_->cmd("QUIT");
  } catch (...) {
  }
}

bool Submitter::send(const std::string& id, std::size_t body_bytes, const std::string& to) {
  if (e2e::SmtpClient::code(client_->cmd("MAIL FROM:<soak@test>")) != 250) return false;
  if (e2e::SmtpClient::code(client_->cmd("RCPT TO:<" + to + ">")) != 250) return false;
  if (e2e::SmtpClient::code(client_->cmd("DATA")) != 354) return false;
  std::string msg = "Message-ID: <" + id + "@soak.test>\r\nX-Soak-Id: " + id +
                    "\r\nSubject: soak " + id + "\r\nFrom: soak@test\r\nTo: " + to + "\r\n\r\n";
  const std::string line =
      "The quick brown fox jumps over the lazy dog, 0123456789 abcdefghijklmnopqrstuvwxyz.\r\n";
  while (msg.size() < body_bytes) msg += line;
  msg += ".leading dot, stuffed on the wire\r\n.\r\n";
  client_->send(msg);
  return e2e::SmtpClient::code(client_->reply()) == 250;
}

// ---- Postfix's log ---------------------------------------------------------------------

namespace {

double log_time(const std::string& line) {
  // "Nov 29 13:58:41 host ..." in local time, this year.
  std::tm tm{};
  const std::time_t now = std::time(nullptr);
  localtime_r(&now, &tm);
  const int year = tm.tm_year;
  if (!strptime(line.c_str(), "%b %d %H:%M:%S", &tm)) return 0;
  tm.tm_year = year;
  tm.tm_isdst = -1;
  return static_cast<double>(std::mktime(&tm));
}

}  // namespace

std::string class_in(const std::string& reason) {
  for (auto* c = all_classes_begin(); c != all_classes_end(); ++c) {
    const std::string needle = " " + std::string(c->name) + ":";
    if (reason.find(needle) != std::string::npos) return std::string(c->name);
  }
  return "";
}

std::vector<Deferral> deferrals(const std::string& maillog) {
  std::vector<Deferral> out;
  std::istringstream in(maillog);
  std::string line;
  static const std::regex re(R"(: ([0-9A-F]+): to=<[^>]*>.* status=deferred \((.*)\)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, m, re)) continue;
    Deferral d;
    d.queue_id = m[1].str();
    d.reason = m[2].str();
    d.time = log_time(line);
    d.from_tlsrelay = d.reason.find(" said: ") != std::string::npos;
    if (d.from_tlsrelay) {
      d.kind = class_in(d.reason);
      if (d.kind.empty()) d.kind = "no-class-id";
    } else if (d.reason.find("Connection refused") != std::string::npos) {
      d.kind = "postfix:connect-refused";
    } else if (d.reason.find("lost connection") != std::string::npos) {
      d.kind = "postfix:lost-connection";
    } else if (d.reason.find("timed out") != std::string::npos) {
      d.kind = "postfix:timeout";
    } else {
      d.kind = "postfix:other";
    }
    out.push_back(d);
  }
  return out;
}

std::map<std::string, std::string> message_ids(const std::string& maillog) {
  std::map<std::string, std::string> out;
  std::istringstream in(maillog);
  std::string line;
  static const std::regex re(R"(: ([0-9A-F]+): message-id=<([^@>]+)@)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, re)) out[m[1].str()] = m[2].str();
  }
  return out;
}

}  // namespace tlsrelay::integration

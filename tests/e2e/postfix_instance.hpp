// A real, private Postfix for end-to-end tests (integration/postfix-instance.sh): its own
// configuration, queue and smtpd port, started in the constructor and stopped in the
// destructor. Each command runs in a mount namespace where its etc/ is /etc/postfix.
//
// Root only. Not thread-safe; Catch2 runs test cases one after another.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tests/e2e/process.hpp"

namespace tlsrelay::e2e {

// Waits for something observable (a log line, a file's content), bounded; polls every 50 ms.
bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit);

class Postfix {
 public:
  // Relays everything to [127.0.0.1]:relay_port.
  explicit Postfix(unsigned short relay_port);
  // relayhost as written; extra_cf: main.cf lines ("name = value") set after the rig's own.
  Postfix(const std::string& relayhost, const std::string& extra_cf);
  ~Postfix();
  Postfix(const Postfix&) = delete;
  Postfix& operator=(const Postfix&) = delete;

  unsigned short port() const { return port_; }
  // The instance's directory (its etc/ is /etc/postfix inside run()).
  std::string dir() const { return dir_.path() + "/pf"; }
  std::string main_cf() const { return dir() + "/etc/main.cf"; }
  std::string master_cf() const { return dir() + "/etc/master.cf"; }
  std::string maillog() const;
  std::string queue() const;
  // argv inside the instance's namespace (postconf, tlsrelay setup, ...).
  RunResult run(const std::vector<std::string>& argv,
                std::chrono::milliseconds limit = std::chrono::seconds(120)) const;

 private:
  void start(const std::string& relayhost, const std::string& extra_cf);
  TempDir dir_;
  unsigned short port_;
};

// One message through SMTP on `port`: alice@test to bob@example.org; requires 250 at the end.
void submit(unsigned short port, const std::string& body);

}  // namespace tlsrelay::e2e

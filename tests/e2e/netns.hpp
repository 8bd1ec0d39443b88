// A throw-away network namespace for tests that need faults the loopback of the host must
// not see: iptables drops and rejects, and a DNS server of our own answering on 127.0.0.1:53
// (names resolve through the namespace's own /etc/netns/NAME/resolv.conf and hosts).
//
// Needs root. Everything is removed at destruction, also when the test failed.
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::e2e {

class Netns {
 public:
  Netns();
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  // {"ip", "netns", "exec", NAME}: prefix a command to run it inside.
  std::vector<std::string> exec() const { return {"ip", "netns", "exec", name_}; }
  // Adds `options trust-ad` to the namespace's resolv.conf: the C library then keeps the
  // AD bit of our DNS server's answers (glibc 2.31 and later drop it otherwise).
  void trust_ad() const;
  // Runs a command inside and fails the test if it does not exit 0.
  void must(const std::vector<std::string>& argv) const;

 private:
  std::string name_;
  std::string etc_;
};

}  // namespace tlsrelay::e2e

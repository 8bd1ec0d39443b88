#include "ossl.hpp"

#include <openssl/err.h>

#include <stdexcept>

namespace tlsrelay::testpeer {

std::string drain_errors() {
  std::string out;
  char buf[256];
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

void fail(const std::string& what) {
  const std::string errors = drain_errors();
  throw std::runtime_error(what + (errors.empty() ? "" : " (" + errors + ")"));
}

}  // namespace tlsrelay::testpeer

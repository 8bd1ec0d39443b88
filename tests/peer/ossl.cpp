#include "ossl.hpp"

#include <openssl/err.h>

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

}  // namespace tlsrelay::testpeer

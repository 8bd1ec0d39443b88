// Envelope values for the unit tests that parse and format MAIL and RCPT.
#pragma once

#include <string>

#include "proxy/upstream/envelope.hpp"

namespace tlsrelay::proxy::test {

inline MailParams mail(std::string path) {
  MailParams p;
  p.reverse_path = std::move(path);
  return p;
}

inline RcptParams rcpt(std::string path, std::string notify = "", std::string orcpt = "") {
  return RcptParams{std::move(path), std::move(notify), std::move(orcpt)};
}

}  // namespace tlsrelay::proxy::test

#include "tls/errors.hpp"

#include <string>

namespace tlsrelay::tls {
namespace {

class Category : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tlsrelay"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::TlsFailure:
        return "TLS failure";
      case Errc::TlsClosed:
        return "TLS connection closed by the peer";
      case Errc::LineTooLong:
        return "line too long";
      case Errc::NotSmtp:
        return "not an SMTP reply";
    }
    return "unknown tlsrelay error";
  }
};

}  // namespace

const boost::system::error_category& error_category() {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), error_category()};
}

}  // namespace tlsrelay::tls

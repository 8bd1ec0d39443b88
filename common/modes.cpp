#include "common/modes.hpp"

namespace tlsrelay {

std::string_view to_string(TlsMode m) {
  switch (m) {
    case TlsMode::Starttls:
      return "starttls";
    case TlsMode::Implicit:
      return "implicit";
    case TlsMode::None:
      return "none";
  }
  return "";
}

std::optional<TlsMode> tls_mode_from_string(std::string_view s) {
  if (s == "starttls") return TlsMode::Starttls;
  if (s == "implicit") return TlsMode::Implicit;
  if (s == "none") return TlsMode::None;
  return std::nullopt;
}

std::string_view to_string(AuthMechanism m) {
  switch (m) {
    case AuthMechanism::Auto:
      return "auto";
    case AuthMechanism::Plain:
      return "plain";
    case AuthMechanism::Login:
      return "login";
    case AuthMechanism::Xoauth2:
      return "xoauth2";
  }
  return "";
}

std::string_view to_string(BareNewlines b) {
  switch (b) {
    case BareNewlines::Reject:
      return "reject";
    case BareNewlines::Normalize:
      return "normalize";
  }
  return "";
}

}  // namespace tlsrelay

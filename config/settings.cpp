#include "config/settings.hpp"

namespace tlsrelay::config {

std::string_view to_string(MilterPolicy p) {
  switch (p) {
    case MilterPolicy::Accept:
      return "accept";
    case MilterPolicy::Tempfail:
      return "tempfail";
    case MilterPolicy::Hold:
      return "hold";
  }
  return "";
}

std::vector<Cidr> ProxySettings::default_allow_clients() {
  IpAddress v6_loopback;
  v6_loopback.family = IpAddress::Family::V6;
  v6_loopback.bytes[15] = 1;
  return {Cidr{IpAddress::v4(127, 0, 0, 1), 32}, Cidr{v6_loopback, 128}};
}

}  // namespace tlsrelay::config

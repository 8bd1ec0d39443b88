// Follows one relayed connection's two byte streams and finds the moment a fault must fire:
// SMTP lines in clear up to STARTTLS (banner, EHLO, STARTTLS and its reply), then TLS record
// framing without decrypting (ClientHello, ServerHello, the client's Finished, then "flights":
// the client's records between two answers of the server, and the server's replies to them).
//
// Pure: fed with what was read from each side, it says which bytes may be forwarded now and
// whether the fault fires right after them. Bytes are released in whole units (a line in
// clear, a record in TLS) so that an event is recognised before its first byte leaves;
// the receiver needs whole lines and records anyway. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "integration/faultinject/plan.hpp"

namespace tlsrelay::faultinject {

enum class Dir { Up = 0, Down = 1 };  // Up: client -> server (towards the target)

class PhaseTracker {
 public:
  struct Step {
    std::string forward;  // send these bytes on, in order
    bool fire = false;    // then fire the fault (only once per connection)
    std::string at;       // where it fired, for the log ("flight=6 up@1234")
  };

  // `armed` false: only follow the phases (for the log), never fire.
  PhaseTracker(const Trigger& trigger, bool armed);

  // Takes bytes read from the side that sends in direction d.
  Step feed(Dir d, std::string_view bytes);

  // A one-word summary of how far the dialogue got: "banner", "tls", "flight=4", ...
  std::string phase() const;
  std::uint64_t bytes(Dir d) const { return pos_[static_cast<int>(d)]; }
  std::uint64_t flights() const { return flight_; }

 private:
  struct Pending {
    bool set = false;
    Dir dir = Dir::Up;
    std::uint64_t pos = 0;
    std::string what;
  };
  // Length of the next complete unit in buf, 0 when more bytes are needed.
  std::size_t next_unit(Dir d) const;
  // Updates the phase state for a unit starting at stream position `start`; arms the
  // pending fire when the unit is where the trigger points.
  void classify(Dir d, std::string_view unit, std::uint64_t start);
  void arm(Dir d, std::uint64_t start, const std::string& what);

  Trigger trigger_;
  bool armed_;
  bool fired_ = false;
  Pending pending_;
  std::string buf_[2];
  std::uint64_t pos_[2] = {0, 0};  // bytes of each stream already released

  // Phase state.
  bool tls_ = false;              // both streams are TLS records from here on
  bool raw_[2] = {false, false};  // a stream that stopped looking like lines/records
  bool banner_seen_ = false;
  bool ehlo_seen_ = false;
  bool starttls_sent_ = false;
  bool starttls_reply_seen_ = false;
  std::uint64_t records_[2] = {0, 0};
  bool ccs_up_ = false;
  bool handshake_done_ = false;
  std::uint64_t flight_ = 0;
  bool answered_ = true;  // the server has sent something since the current flight began
};

}  // namespace tlsrelay::faultinject

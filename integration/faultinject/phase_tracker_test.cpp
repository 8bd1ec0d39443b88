// Phase tracking over a scripted STARTTLS dialogue: each trigger fires exactly at its point,
// with the bytes before it forwarded and nothing after, whatever the read boundaries.
#include <catch2/catch.hpp>
#include <vector>

#include "integration/faultinject/phase_tracker.hpp"

using namespace tlsrelay::faultinject;

namespace {

std::string record(unsigned char type, std::size_t len, char fill = 'x') {
  std::string r;
  r += static_cast<char>(type);
  r += '\x03';
  r += '\x03';
  r += static_cast<char>(len >> 8);
  r += static_cast<char>(len & 0xff);
  r += std::string(len, fill);
  return r;
}

struct Chunk {
  Dir dir;
  std::string bytes;
  std::string label;  // the point that starts at this chunk's first byte
};

// A TLS 1.3 dialogue as tlsrelay and Postfix speak it: lockstep after TLS, AUTH, one
// recipient, session tickets after the client's Finished.
std::vector<Chunk> dialogue() {
  return {
      {Dir::Down, "220 mx.test ESMTP\r\n", "banner"},
      {Dir::Up, "EHLO relay.test\r\n", "ehlo"},
      {Dir::Down, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n", ""},
      {Dir::Up, "STARTTLS\r\n", "starttls"},
      {Dir::Down, "220 2.0.0 Ready to start TLS\r\n", "starttls-reply"},
      {Dir::Up, record(22, 300), "clienthello"},
      {Dir::Down, record(22, 90) + record(20, 1) + record(23, 2000), "serverhello"},
      {Dir::Up, record(20, 1) + record(23, 53), ""},       // CCS, Finished
      {Dir::Down, record(23, 200) + record(23, 200), ""},  // two session tickets
      {Dir::Up, record(23, 40), "flight=1"},               // EHLO
      {Dir::Down, record(23, 120), "reply=1"},
      {Dir::Up, record(23, 60), "flight=2"},  // AUTH PLAIN
      {Dir::Down, record(23, 50), "reply=2"},
      {Dir::Up, record(23, 50), "flight=3"},  // MAIL
      {Dir::Down, record(23, 30), "reply=3"},
      {Dir::Up, record(23, 50), "flight=4"},  // RCPT
      {Dir::Down, record(23, 30), "reply=4"},
      {Dir::Up, record(23, 22), "flight=5"},  // DATA
      {Dir::Down, record(23, 50), "reply=5"},
      {Dir::Up, record(23, 16401) + record(23, 900), "flight=6"},  // body in two records
      {Dir::Down, record(23, 60), "reply=6"},                      // 250 queued
  };
}

// Plays the dialogue split into reads of `piece` bytes; returns what was forwarded per
// direction up to the firing, and the label of the chunk that was being fed when it fired.
struct Played {
  std::string forwarded[2];
  std::string fired_in;
  std::string at;
};

Played play(const Trigger& t, std::size_t piece) {
  PhaseTracker tr(t, true);
  Played out;
  for (const Chunk& c : dialogue()) {
    for (std::size_t i = 0; i < c.bytes.size(); i += piece) {
      auto step = tr.feed(c.dir, std::string_view(c.bytes).substr(i, piece));
      out.forwarded[static_cast<int>(c.dir)] += step.forward;
      if (step.fire) {
        out.fired_in = c.label;
        out.at = step.at;
        return out;
      }
    }
  }
  return out;
}

// Bytes of direction d in the whole dialogue before the chunk labelled `label`.
std::string before(Dir d, const std::string& label) {
  std::string s;
  for (const Chunk& c : dialogue()) {
    if (c.label == label) break;
    if (c.dir == d) s += c.bytes;
  }
  return s;
}

}  // namespace

TEST_CASE("tracker: every point fires at its first byte, whatever the reads", "[tracker]") {
  auto [label, point, n, dir] = GENERATE(table<std::string, Point, int, Dir>({
      {"banner", Point::Banner, 0, Dir::Down},
      {"ehlo", Point::Ehlo, 0, Dir::Up},
      {"starttls", Point::Starttls, 0, Dir::Up},
      {"starttls-reply", Point::StarttlsReply, 0, Dir::Down},
      {"clienthello", Point::ClientHello, 0, Dir::Up},
      {"serverhello", Point::ServerHello, 0, Dir::Down},
      {"flight=1", Point::Flight, 1, Dir::Up},
      {"flight=2", Point::Flight, 2, Dir::Up},
      {"reply=3", Point::Reply, 3, Dir::Down},
      {"flight=5", Point::Flight, 5, Dir::Up},
      {"flight=6", Point::Flight, 6, Dir::Up},
      {"reply=6", Point::Reply, 6, Dir::Down},
  }));
  const std::size_t piece = GENERATE(1, 7, 4096, 100000);
  Trigger t;
  t.point = point;
  t.n = static_cast<std::uint64_t>(n);
  Played p = play(t, piece);
  INFO(label << " in reads of " << piece);
  CHECK(p.fired_in == label);
  CHECK(p.forwarded[static_cast<int>(dir)] == before(dir, label));
  CHECK(p.at.rfind(label + " ", 0) == 0);
}

TEST_CASE("tracker: +K forwards K bytes of the unit, bytes-up fires at an offset", "[tracker]") {
  Trigger t;
  t.point = Point::Flight;
  t.n = 6;
  t.offset = 1000;  // inside the first record of the body
  Played p = play(t, 7);
  CHECK(p.fired_in == "flight=6");
  CHECK(p.forwarded[0] == before(Dir::Up, "flight=6") + record(23, 16401).substr(0, 1000));

  Trigger b;
  b.point = Point::BytesUp;
  b.n = 20;
  Played q = play(b, 3);
  CHECK(q.fired_in == "starttls");  // byte 20 is inside the STARTTLS line
  CHECK(q.forwarded[0] == std::string("EHLO relay.test\r\nSTA").substr(0, 20));
}

TEST_CASE("tracker: an unarmed tracker forwards everything and names the phase", "[tracker]") {
  Trigger t;
  t.point = Point::Banner;
  PhaseTracker tr(t, false);
  std::string all[2];
  for (const Chunk& c : dialogue()) {
    auto step = tr.feed(c.dir, c.bytes);
    CHECK_FALSE(step.fire);
    all[static_cast<int>(c.dir)] += step.forward;
  }
  CHECK(all[0] == before(Dir::Up, "never"));
  CHECK(all[1] == before(Dir::Down, "never"));
  CHECK(tr.flights() == 6);
  CHECK(tr.phase() == "reply=6");
}

TEST_CASE("tracker: a refused STARTTLS stays in clear, a foreign stream passes through",
          "[tracker]") {
  Trigger t;
  t.point = Point::ClientHello;
  PhaseTracker tr(t, true);
  tr.feed(Dir::Down, "220 mx\r\n");
  tr.feed(Dir::Up, "STARTTLS\r\n");
  tr.feed(Dir::Down, "454 4.7.0 TLS not available\r\n");
  auto step = tr.feed(Dir::Up, "QUIT\r\n");
  CHECK_FALSE(step.fire);
  CHECK(step.forward == "QUIT\r\n");
  CHECK(tr.phase() == "starttls-reply");
  // 70 KB without a line end is let through, not buffered without bound.
  PhaseTracker raw(t, false);
  auto big = raw.feed(Dir::Down, std::string(70000, 'a'));
  CHECK(big.forward.size() == 70000);
}

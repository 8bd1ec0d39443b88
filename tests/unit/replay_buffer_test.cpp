// The replay buffer keeps a message's octets exactly, in memory up to its bound and in an
// unnamed file beyond it; a file it cannot create disables replay, never the message.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "proxy/server/replay_buffer.hpp"

using tlsrelay::proxy::ReplayBuffer;

namespace {

std::string read_all(ReplayBuffer& b, std::size_t piece) {
  std::string out;
  for (std::string s = b.read(0, piece); !s.empty(); s = b.read(out.size(), piece)) out += s;
  return out;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

// TMPDIR for the lifetime of the object (the buffer creates its file there).
class TmpDirEnv {
 public:
  explicit TmpDirEnv(const std::string& path) {
    const char* old = std::getenv("TMPDIR");
    if (old) old_ = old;
    had_ = old != nullptr;
    setenv("TMPDIR", path.c_str(), 1);
  }
  ~TmpDirEnv() {
    if (had_) {
      setenv("TMPDIR", old_.c_str(), 1);
    } else {
      unsetenv("TMPDIR");
    }
  }

 private:
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("replay buffer: bytes come back exactly, below and above the memory bound", "[replay]") {
  const auto limit = GENERATE(std::uint64_t{0}, std::uint64_t{1000}, std::uint64_t{1} << 20);
  const auto piece = GENERATE(std::size_t{1}, std::size_t{999}, std::size_t{65536});
  ReplayBuffer b(limit);
  std::string want;
  for (unsigned i = 0; i < 40; ++i) {
    const std::string chunk = pattern(997 * (i % 7) + 1, i);
    b.append(chunk);
    want += chunk;
  }
  INFO("limit " << limit << ", pieces of " << piece);
  REQUIRE(b.usable());
  CHECK(b.size() == want.size());
  CHECK(b.on_disk() == (want.size() > limit));
  CHECK(read_all(b, piece) == want);
  CHECK(b.read(want.size(), 10).empty());
  b.clear();
  CHECK(b.size() == 0);
  CHECK_FALSE(b.on_disk());
  b.append("next");
  CHECK(read_all(b, 3) == "next");
}

TEST_CASE("replay buffer: the file has no name, so nothing is left behind", "[replay]") {
  char tmpl[] = "/tmp/tlsrelay-replay-test.XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  {
    TmpDirEnv env(dir);
    ReplayBuffer b(16);
    b.append(pattern(100000, 7));
    REQUIRE(b.usable());
    REQUIRE(b.on_disk());
    CHECK(std::filesystem::is_empty(dir));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay buffer: a file it cannot create disables replay and says why", "[replay]") {
  TmpDirEnv env("/nonexistent-tlsrelay-dir");
  ReplayBuffer b(10);
  b.append("0123456789");
  CHECK(b.usable());  // still in memory
  b.append("x");
  CHECK_FALSE(b.usable());
  CHECK(b.error().find("cannot create a replay file in /nonexistent-tlsrelay-dir") == 0);
  CHECK(b.read(0, 100).empty());
  b.clear();
  CHECK(b.usable());
}

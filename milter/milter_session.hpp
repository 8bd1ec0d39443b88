// The libmilter callbacks: per-connection and per-message state, and carrying out
// decide()'s Decision with smfi_* calls.
//
// libmilter calls these on its own threads, one connection at a time per thread.
// Per-connection state is smfi_setpriv data made in connect and freed in close (which may
// arrive without connect, with no data); per-message state is made at MAIL FROM and freed
// at end of message and on abort. Macro values are copied at once. No exception leaves a
// callback: one that would is logged and the message accepted (fail open). The shared
// parts (settings, status cache, fail-open log) are in MilterRuntime, which must outlive
// smfi_main().
#pragma once

#include <libmilter/mfapi.h>

#include <atomic>
#include <cstdint>

#include "config/settings.hpp"
#include "milter/fail_open_log.hpp"
#include "milter/status_cache.hpp"

namespace tlsrelay::milter {

struct MilterRuntime {
  config::MilterSettings settings;
  StatusCache* cache = nullptr;
  FailOpenLog* fail_open = nullptr;
  std::atomic<std::uint64_t> next_session{1};
  std::atomic<std::uint64_t> messages{0};
};

// Sets the runtime the callbacks use; call once before smfi_register().
void set_milter_runtime(MilterRuntime* runtime);

// The filter description for smfi_register(), callbacks filled in.
smfiDesc milter_description();

}  // namespace tlsrelay::milter

// The completion token of the engine's coroutines: `co_await op(..., kUse)` yields the
// error code (and results) as a tuple instead of throwing, so every failure reaches the
// capture as a fact. One definition for all of tls/.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tlsrelay::tls {

inline constexpr auto kUse = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace tlsrelay::tls

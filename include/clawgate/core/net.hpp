#pragma once
// Network aliases. Boost 1.81 has no default `deferred` token, so every I/O object used from
// coroutines is rebound to as_tuple(use_awaitable): `auto [ec, n] = co_await op(...)`.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/error_code.hpp>

namespace clawgate {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

using token_t = net::as_tuple_t<net::use_awaitable_t<>>;
using socket_t = token_t::as_default_on_t<tcp::socket>;
using acceptor_t = token_t::as_default_on_t<tcp::acceptor>;
using timer_t = token_t::as_default_on_t<net::steady_timer>;
using resolver_t = token_t::as_default_on_t<tcp::resolver>;

template <class T = void>
using task = net::awaitable<T>;

inline constexpr token_t use_tuple{};

}  // namespace clawgate

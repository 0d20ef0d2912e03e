#pragma once
// Transparent mode: where a connection redirected by iptables REDIRECT was going, and the guard
// that refuses one whose original destination is the proxy itself.
#include <sys/socket.h>
#include <uv.h>

#include <span>
#include <string>
#include <variant>

namespace flow::proxy {

// Why the original destination is unknown. `code` is the errno of getsockopt (ENOENT: the
// connection was not redirected; ENOPROTOOPT: no connection tracking in this kernel), or EINVAL
// for a socket that is not IPv4/IPv6 TCP. `message` names the option and the errno for a log.
struct OriginalDstError {
  int code = 0;
  std::string message;
};

using OriginalDestination = std::variant<sockaddr_storage, OriginalDstError>;

// The destination the client connected to before the NAT table rewrote it: SO_ORIGINAL_DST on
// an IPv4 socket (or an IPv6 socket carrying IPv4-mapped addresses), IP6T_SO_ORIGINAL_DST on
// IPv6. Never blocks. Where connection tracking follows a connection that no rule rewrote (a
// client that connected to the transparent port directly), the kernel answers with the address
// the client used, which is the listener itself: is_own_listener catches that.
OriginalDestination original_destination(int fd);
OriginalDestination original_destination(const uv_tcp_t* tcp);

// The loop guard: true when `destination` is one of `listeners` (the proxy's own bound
// addresses), or has a listener's port and is either a loopback address while that listener is
// on loopback, or any local address while that listener is on the unspecified address. Sending
// such a connection upstream would bring it straight back to the proxy.
bool is_own_listener(const sockaddr* destination, std::span<const sockaddr_storage> listeners);

}  // namespace flow::proxy

#pragma once
#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flow::proxy {

// "1.2.3.4:80" or "[::1]:80".
std::string format_sockaddr(const sockaddr* addr);
// An IPv4 or IPv6 literal (no brackets) with a port; nullopt for host names.
std::optional<sockaddr_storage> ip_literal(const std::string& host, std::uint16_t port);
bool is_loopback(const sockaddr* addr);
bool is_unspecified(const sockaddr* addr);
std::uint16_t sockaddr_port(const sockaddr* addr);
// Same address family, address and port.
bool same_endpoint(const sockaddr* a, const sockaddr* b);
// True when `addr` is an address of one of this machine's interfaces.
bool is_local_interface_address(const sockaddr* addr);

}  // namespace flow::proxy

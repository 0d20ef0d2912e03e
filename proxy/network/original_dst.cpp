#include "flow/proxy/network/original_dst.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "flow/proxy/network/net_address.hpp"

namespace flow::proxy {
namespace {

OriginalDstError failure(int code, const char* option) {
  std::string message = option;
  message += ": ";
  message += code == ENOENT ? "ENOENT (the connection was not redirected)" : uv_err_name(-code);
  if (code != ENOENT) {
    message += " (";
    message += std::strerror(code);
    message += ')';
  }
  return {code, std::move(message)};
}

bool is_v4_mapped(const sockaddr_storage& local) {
  return local.ss_family == AF_INET6 &&
         IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr);
}

OriginalDestination ask_kernel(int fd, int level, int option, const char* option_name, int family) {
  sockaddr_storage out{};
  socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (getsockopt(fd, level, option, &out, &len) != 0) return failure(errno, option_name);
  if (out.ss_family != family) return failure(EINVAL, option_name);
  return out;
}

}  // namespace

OriginalDestination original_destination(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return failure(errno, "getsockname");
  }
  // A dual-stack socket's IPv4 connection is tracked as IPv4.
  if (local.ss_family == AF_INET || is_v4_mapped(local)) {
    return ask_kernel(fd, SOL_IP, SO_ORIGINAL_DST, "SO_ORIGINAL_DST", AF_INET);
  }
  if (local.ss_family == AF_INET6) {
    return ask_kernel(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, "IP6T_SO_ORIGINAL_DST", AF_INET6);
  }
  return failure(EINVAL, "SO_ORIGINAL_DST");
}

OriginalDestination original_destination(const uv_tcp_t* tcp) {
  uv_os_fd_t fd = -1;
  if (const int rc = uv_fileno(reinterpret_cast<const uv_handle_t*>(tcp), &fd); rc != 0) {
    return OriginalDstError{-rc, std::string("uv_fileno: ") + uv_err_name(rc)};
  }
  return original_destination(fd);
}

bool is_own_listener(const sockaddr* destination, std::span<const sockaddr_storage> listeners) {
  for (const sockaddr_storage& storage : listeners) {
    const auto* own = reinterpret_cast<const sockaddr*>(&storage);
    if (sockaddr_port(destination) != sockaddr_port(own)) continue;
    if (same_endpoint(destination, own)) return true;
    if (is_loopback(own) && is_loopback(destination)) return true;
    if (is_unspecified(own) && (is_loopback(destination) || is_unspecified(destination) ||
                                is_local_interface_address(destination))) {
      return true;
    }
  }
  return false;
}

}  // namespace flow::proxy

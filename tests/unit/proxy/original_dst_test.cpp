#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/original_dst.hpp"

using namespace flow::proxy;

namespace {

// A connected pair over 127.0.0.1 with no iptables rule in the way: the accepted end and the
// client end (both closed by the destructor).
struct LoopbackPair {
  int listener = -1, client = -1, accepted = -1;
  LoopbackPair() {
    auto at = ip_literal("127.0.0.1", 0);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&*at), sizeof(sockaddr_in)) == 0);
    REQUIRE(listen(listener, 1) == 0);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len);
    client = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&bound), len) == 0);
    accepted = accept(listener, nullptr, nullptr);
    REQUIRE(accepted >= 0);
  }
  ~LoopbackPair() {
    close(accepted);
    close(client);
    close(listener);
  }
};

sockaddr_storage at(const std::string& ip, std::uint16_t port) {
  auto address = ip_literal(ip, port);
  REQUIRE(address);
  return *address;
}

const sockaddr* raw(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr*>(&s);
}

}  // namespace

TEST_CASE("a loopback connection that was not redirected has no rewritten destination") {
  LoopbackPair pair;
  const auto original = original_destination(pair.accepted);
  if (const auto* address = std::get_if<sockaddr_storage>(&original)) {
    // Where nat rules exist in this namespace (a container's DNS rules, say), connection tracking
    // follows every connection and reports the address the client used: the listener's own.
    MESSAGE("connection tracking is on in this namespace");
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    getsockname(pair.accepted, reinterpret_cast<sockaddr*>(&local), &len);
    CHECK(same_endpoint(raw(*address), raw(local)));
    return;
  }
  const auto& error = std::get<OriginalDstError>(original);
  if (error.code == ENOPROTOOPT) {
    MESSAGE("this kernel has no connection tracking: " << error.message);
    CHECK(error.message.rfind("SO_ORIGINAL_DST: ENOPROTOOPT", 0) == 0);
    return;
  }
  CHECK(error.code == ENOENT);
  CHECK(error.message == "SO_ORIGINAL_DST: ENOENT (the connection was not redirected)");
}

TEST_CASE("the libuv handle form asks the same socket, and an unopened handle is an error") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t unopened;
  uv_tcp_init(&loop, &unopened);
  const auto none = original_destination(&unopened);
  REQUIRE(std::holds_alternative<OriginalDstError>(none));
  CHECK(std::get<OriginalDstError>(none).message.rfind("uv_fileno: ", 0) == 0);

  LoopbackPair pair;
  uv_tcp_t opened;
  uv_tcp_init(&loop, &opened);
  REQUIRE(uv_tcp_open(&opened, dup(pair.accepted)) == 0);
  const auto original = original_destination(&opened);
  REQUIRE(std::holds_alternative<OriginalDstError>(original));
  const int code = std::get<OriginalDstError>(original).code;
  CHECK((code == ENOENT || code == ENOPROTOOPT));

  uv_close(reinterpret_cast<uv_handle_t*>(&unopened), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&opened), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a socket that is not IP has no original destination") {
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  const auto original = original_destination(fds[0]);
  REQUIRE(std::holds_alternative<OriginalDstError>(original));
  CHECK(std::get<OriginalDstError>(original).code == EINVAL);
  close(fds[0]);
  close(fds[1]);
  CHECK(std::get<OriginalDstError>(original_destination(-1)).code == EBADF);
}

TEST_CASE("the loop guard knows the proxy's own listen addresses") {
  const std::vector<sockaddr_storage> loopback_listeners = {at("127.0.0.1", 15001),
                                                            at("::1", 15002)};
  const std::vector<sockaddr_storage> any_listener = {at("0.0.0.0", 15001)};
  const std::vector<sockaddr_storage> any6_listener = {at("::", 15001)};
  const std::vector<sockaddr_storage> pod_listener = {at("10.1.2.3", 15001)};
  struct Row {
    const char* ip;
    std::uint16_t port;
    const std::vector<sockaddr_storage>& listeners;
    bool own;
  };
  const Row rows[] = {
      {"127.0.0.1", 15001, loopback_listeners, true},
      {"127.0.0.9", 15001, loopback_listeners, true},  // any loopback address, same port
      {"::1", 15002, loopback_listeners, true},
      {"::1", 15001, loopback_listeners, true},  // another family's loopback, a listener's port
      {"127.0.0.1", 15003, loopback_listeners, false},
      {"93.184.216.34", 15001, loopback_listeners, false},
      {"10.1.2.3", 15001, loopback_listeners, false},
      {"127.0.0.1", 15001, any_listener, true},
      {"0.0.0.0", 15001, any_listener, true},
      {"93.184.216.34", 15001, any_listener, false},
      {"93.184.216.34", 443, any_listener, false},
      {"::1", 15001, any6_listener, true},
      {"127.0.0.1", 15001, any6_listener, true},
      {"10.1.2.3", 15001, pod_listener, true},
      {"10.1.2.4", 15001, pod_listener, false},
      {"10.1.2.3", 80, pod_listener, false},
      {"127.0.0.1", 15001, {}, false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.ip);
    CAPTURE(row.port);
    const auto destination = at(row.ip, row.port);
    CHECK(is_own_listener(raw(destination), row.listeners) == row.own);
  }
}

TEST_CASE("an unspecified listener also owns this machine's interface addresses") {
  uv_interface_address_t* list = nullptr;
  int count = 0;
  REQUIRE(uv_interface_addresses(&list, &count) == 0);
  const std::vector<sockaddr_storage> any_listener = {at("0.0.0.0", 15001)};
  int checked = 0;
  for (int i = 0; i < count; ++i) {
    if (list[i].address.address4.sin_family != AF_INET) continue;
    sockaddr_storage own{};
    std::memcpy(&own, &list[i].address.address4, sizeof(sockaddr_in));
    reinterpret_cast<sockaddr_in*>(&own)->sin_port = htons(15001);
    CHECK(is_own_listener(raw(own), any_listener));
    ++checked;
  }
  uv_free_interface_addresses(list, count);
  CHECK(checked > 0);
}

TEST_CASE(
    "inside a namespace with iptables REDIRECT, SO_ORIGINAL_DST gives the address before it") {
  const std::string command =
      std::string("sh ") + FLOW_ORIGINAL_DST_SCRIPT + " " + FLOW_ORIGINAL_DST_PROBE + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 512> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pclose(pipe);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    MESSAGE("not run: " << output);
    return;
  }
  INFO(output);
  REQUIRE(WEXITSTATUS(status) == 0);
  // In order: before any rule, nothing tracked; the redirected connection; a direct one.
  CHECK(output.find("error SO_ORIGINAL_DST: ENOENT (the connection was not redirected)\n"
                    "original 198.51.100.7:80\n"
                    "original 127.0.0.1:15081\n") == 0);
  if (output.find("no-ipv6") != std::string::npos) {
    MESSAGE("IPv6 part not run: ip6tables or a dummy link is unavailable");
  } else {
    CHECK(output.find("original [2001:db8:402::7]:443\n") != std::string::npos);
  }
}

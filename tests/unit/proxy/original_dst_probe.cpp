// Run inside a network namespace by original_dst_netns.sh: listens where iptables REDIRECT sends
// connections, connects to the address before the redirect, and prints what the accepted socket
// says its original destination was.
//   original_dst_probe LISTEN_PORT DESTINATION_IP DESTINATION_PORT
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/original_dst.hpp"

namespace {

int fail(const char* what) {
  std::perror(what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: original_dst_probe LISTEN_PORT DESTINATION_IP DESTINATION_PORT\n");
    return 2;
  }
  const auto listen_port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const auto dest_port = static_cast<std::uint16_t>(std::atoi(argv[3]));
  const std::string dest_ip = argv[2];
  const bool v6 = dest_ip.find(':') != std::string::npos;
  // REDIRECT in the OUTPUT chain sends to the loopback address of the family.
  const auto listen_at = flow::proxy::ip_literal(v6 ? "::1" : "127.0.0.1", listen_port);
  const auto destination = flow::proxy::ip_literal(dest_ip, dest_port);
  if (!listen_at || !destination) return fail("address");
  const socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);

  const int listener = socket(listen_at->ss_family, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&*listen_at), len) != 0) return fail("bind");
  if (listen(listener, 4) != 0) return fail("listen");
  const int client = socket(destination->ss_family, SOCK_STREAM, 0);
  if (connect(client, reinterpret_cast<const sockaddr*>(&*destination), len) != 0) {
    return fail("connect");
  }
  const int accepted = accept(listener, nullptr, nullptr);
  if (accepted < 0) return fail("accept");

  const auto original = flow::proxy::original_destination(accepted);
  if (const auto* address = std::get_if<sockaddr_storage>(&original)) {
    std::printf("original %s\n",
                flow::proxy::format_sockaddr(reinterpret_cast<const sockaddr*>(address)).c_str());
  } else {
    std::printf("error %s\n", std::get<flow::proxy::OriginalDstError>(original).message.c_str());
  }
  close(accepted);
  close(client);
  close(listener);
  return 0;
}

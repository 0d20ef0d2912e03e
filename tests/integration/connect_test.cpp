// CONNECT tunnels: a TLS session end to end through the proxy (certificate generated here and
// verified by the client), the port allow-list, and half-close propagation.
#include <doctest/doctest.h>

#include <string>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/test_origin.hpp"
#include "support/tls_support.hpp"

using namespace flow::testing;

TEST_CASE("a CONNECT tunnel to an allowed port carries a TLS handshake and HTTPS exchanges") {
  TlsIdentity identity;
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "over tls: " + ex.request().target); },
                    &identity);
  ProxyProcess proxy({"--connect-ports", "443," + std::to_string(origin.port())});
  ClientConnection client(proxy.port());
  auto established = client.open_tunnel(origin.authority());
  INFO("CONNECT answer:\n" << established.head);
  REQUIRE(established.status == 200);

  client.start_tls(identity, "localhost");  // throws unless the generated certificate verifies
  auto first = client.exchange("GET /vault HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(first.status == 200);
  CHECK(first.body == "over tls: /vault");
  auto second = client.exchange("GET /again HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(second.body == "over tls: /again");
  // A blind splice: the origin sees the client's bytes untouched (no Via inside the tunnel).
  REQUIRE(origin.request_count() == 2);
  CHECK(origin.requests()[0].head == "GET /vault HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(origin.accepted_connections() == 1);
}

TEST_CASE("CONNECT to a port outside --connect-ports is answered 403 connect_port_denied") {
  TlsIdentity identity;
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "should not be reached"); },
                    &identity);
  ProxyProcess proxy;  // default allow-list: 443 only
  ClientConnection client(proxy.port());
  auto response = client.open_tunnel(origin.authority());
  check_proxy_error(response, 403, "connect_port_denied");
  CHECK(origin.accepted_connections() == 0);
}

TEST_CASE("a CONNECT tunnel propagates the client's half-close to the origin and back") {
  TestOrigin origin([](OriginExchange& ex) {
    bool saw_eof = ex.wait_for_peer_eof(deadline_in(std::chrono::seconds(10)));
    ex.respond(200, saw_eof ? "saw-eof" : "no-eof");
    ex.close_after();
  });
  ProxyProcess proxy({"--connect-ports", std::to_string(origin.port())});
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(origin.authority()).status == 200);
  client.send("GET /half HTTP/1.1\r\nHost: tunnel\r\n\r\n");
  client.shutdown_write();
  auto response = client.read_response();
  CHECK(response.status == 200);
  CHECK(response.body == "saw-eof");
  CHECK(client.wait_for_close());  // the origin's close comes back through the tunnel
}

TEST_CASE("CONNECT to an allowed port where nothing listens is answered 502 upstream_unreachable") {
  std::uint16_t closed_port = closed_loopback_port();
  ProxyProcess proxy({"--connect-ports", std::to_string(closed_port)});
  ClientConnection client(proxy.port());
  auto response = client.open_tunnel("127.0.0.1:" + std::to_string(closed_port));
  check_proxy_error(response, 502, "upstream_unreachable");
}

TEST_CASE("an idle CONNECT tunnel is closed after --tunnel-idle-timeout") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "unused"); });
  ProxyProcess proxy({"--connect-ports", std::to_string(origin.port()), "--tunnel-idle-timeout",
                      "500ms", "--idle-timeout", "30s"});
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(origin.authority()).status == 200);
  auto start = Clock::now();
  std::string received;
  CHECK(client.wait_for_close(default_deadline(), &received));
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  CHECK(received.empty());
  CHECK(waited >= std::chrono::milliseconds(400));
  CHECK(waited < std::chrono::milliseconds(10'000));
}

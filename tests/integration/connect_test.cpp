// CONNECT tunnels: a TLS session end to end through the proxy (certificate generated here and
// verified by the client), the port allow-list, plain HTTP inside a tunnel, and half-close
// propagation.
#include <doctest/doctest.h>

#include <string>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/raw_origin.hpp"
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

// A port CONNECT may not splice to is still answered 200: the tunnel may carry plain HTTP
// (undici sends http:// targets as CONNECT host:PORT), which runs as exchanges. Anything else is
// refused by closing the tunnel, before anything reaches the origin.
TEST_CASE("CONNECT to a port outside --connect-ports splices nothing: non-HTTP bytes are refused") {
  TlsIdentity identity;
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "should not be reached"); },
                    &identity);
  ProxyProcess proxy;  // default allow-list: 443 only
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(origin.authority()).status == 200);
  client.send("SSH-2.0-OpenSSH_9.2\r\n");
  CHECK(client.wait_for_close());
  CHECK(origin.accepted_connections() == 0);
  const auto entries = proxy.wait_for_access_log(1, default_deadline());
  CHECK(entries[0]["method"] == "CONNECT");
  CHECK(entries[0]["reason"] == "connect_port_denied");
}

TEST_CASE("CONNECT to a port outside --connect-ports carrying plain HTTP runs it as exchanges") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "plain: " + ex.request().target); });
  ProxyProcess proxy;  // default allow-list: 443 only
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(origin.authority()).status == 200);
  auto first = client.exchange("GET /one HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n");
  CHECK(first.status == 200);
  CHECK(first.body == "plain: /one");
  auto second = client.exchange("GET /two HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n");
  CHECK(second.body == "plain: /two");
  REQUIRE(origin.request_count() == 2);
  // Proxied, not spliced: the origin sees the proxy's Via.
  CHECK(origin.requests()[0].head.find("Via: ") != std::string::npos);
}

// A tunnel whose first bytes are neither TLS nor HTTP is spliced as it is, half-close included.
TEST_CASE("a CONNECT tunnel propagates the client's half-close to the origin and back") {
  std::string origin_saw;
  RawOrigin origin([&](SocketStream& peer) {
    const Deadline deadline = deadline_in(std::chrono::seconds(10));
    origin_saw = RawOrigin::read_to_eof(peer, deadline);
    peer.write_all("saw-eof", deadline);  // only after the client's FIN came through
    peer.shutdown_write();
  });
  ProxyProcess proxy({"--connect-ports", std::to_string(origin.port())});
  ClientConnection client(proxy.port());
  REQUIRE(client.open_tunnel(origin.authority()).status == 200);
  client.send("ping half\n");
  client.shutdown_write();
  std::string received;
  CHECK(client.wait_for_close(default_deadline(), &received));  // the origin's FIN came back
  CHECK(received == "saw-eof");
  CHECK(origin_saw == "ping half\n");
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

// The JSON access log: one line per exchange with the contract's fields, proxy-generated answers
// carrying their error code, and CONNECT tunnels with exact byte counts.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/raw_origin.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

std::string field(const json& entry, const char* name) {
  if (!entry.contains(name)) return "<absent>";
  return entry[name].is_string() ? entry[name].get<std::string>() : entry[name].dump();
}

}  // namespace

TEST_CASE(
    "each exchange writes one JSON access line with client, method, host, port, path, status and "
    "sizes") {
  TestOrigin origin([](OriginExchange& ex) {
    if (ex.request().method == "POST") {
      ex.body();
      return ex.respond(201, "created");
    }
    ex.respond(200, "first");
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  CHECK(client.exchange(absolute_get(origin, "/first")).status == 200);
  CHECK(client
            .exchange("POST " + origin.url("/second") + " HTTP/1.1\r\nHost: " + origin.authority() +
                      "\r\nContent-Length: 8\r\n\r\n12345678")
            .status == 201);

  auto entries = proxy.wait_for_access_log(2, default_deadline());
  REQUIRE(entries.size() == 2);  // exactly one line per exchange
  const json& get = entries[0];
  const json& post = entries[1];
  INFO("access log:\n" << get.dump() << "\n" << post.dump());

  CHECK(field(get, "type") == "access");
  CHECK(
      std::regex_match(field(get, "ts"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(field(get, "client").rfind("127.0.0.1:", 0) == 0);
  CHECK(field(get, "method") == "GET");
  CHECK(field(get, "host") == "127.0.0.1");
  CHECK(field(get, "port") == std::to_string(origin.port()));
  CHECK(field(get, "path") == "/first");
  CHECK(field(get, "status") == "200");
  CHECK(field(get, "req_body_bytes") == "0");
  CHECK(field(get, "resp_body_bytes") == "5");
  CHECK(field(get, "upstream_reused") == "false");
  CHECK(get.contains("duration_us"));
  CHECK_FALSE(get.contains("error"));

  CHECK(field(post, "method") == "POST");
  CHECK(field(post, "path") == "/second");
  CHECK(field(post, "status") == "201");
  CHECK(field(post, "req_body_bytes") == "8");
  CHECK(field(post, "resp_body_bytes") == "7");
  CHECK(field(post, "upstream_reused") == "true");
  CHECK(field(post, "client") == field(get, "client"));  // same client connection
}

TEST_CASE("a proxy-generated answer is logged with its status and error code") {
  std::uint16_t closed_port = closed_loopback_port();
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  std::string authority = "127.0.0.1:" + std::to_string(closed_port);
  auto response = client.exchange("GET http://" + authority +
                                  "/nowhere HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  CHECK(response.status == 502);
  auto entries = proxy.wait_for_access_log(1, default_deadline());
  REQUIRE(entries.size() == 1);
  INFO("access log: " << entries[0].dump());
  CHECK(field(entries[0], "method") == "GET");
  CHECK(field(entries[0], "port") == std::to_string(closed_port));
  CHECK(field(entries[0], "path") == "/nowhere");
  CHECK(field(entries[0], "status") == "502");
  CHECK(field(entries[0], "error") == "upstream_unreachable");
  CHECK(field(entries[0], "reason") == "upstream_unreachable");
  CHECK(field(entries[0], "resp_body_bytes") == std::to_string(response.body.size()));
  CHECK(response.body.size() > 0);
}

TEST_CASE("a CONNECT tunnel is logged with status 200 and the exact bytes each way") {
  const std::string answer = "PONG from the far end\n";
  const std::string request = "ping the far end\n";  // not HTTP: the tunnel is spliced
  RawOrigin origin([&](SocketStream& peer) {
    const Deadline deadline = default_deadline();
    (void)RawOrigin::read_to_eof(peer, deadline);
    peer.write_all(answer, deadline);
    peer.shutdown_write();
  });
  ProxyProcess proxy({"--connect-ports", std::to_string(origin.port())});
  {
    ClientConnection client(proxy.port());
    REQUIRE(client.open_tunnel(origin.authority()).status == 200);
    client.send(request);
    client.shutdown_write();
    std::string received;
    CHECK(client.wait_for_close(default_deadline(), &received));
    CHECK(received == answer);
  }
  auto entries = proxy.wait_for_access_log(1, default_deadline());
  REQUIRE(entries.size() == 1);
  INFO("access log: " << entries[0].dump());
  CHECK(field(entries[0], "method") == "CONNECT");
  CHECK(field(entries[0], "status") == "200");
  CHECK(field(entries[0], "host") == "127.0.0.1");
  CHECK(field(entries[0], "port") == std::to_string(origin.port()));
  CHECK(field(entries[0], "bytes_up") == std::to_string(request.size()));
  CHECK(field(entries[0], "bytes_down") == std::to_string(answer.size()));
}

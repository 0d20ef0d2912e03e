// The transparent listener without network namespaces: a connection made straight to it (never
// redirected) has the listener itself as its original destination, so the loop guard closes it
// without a byte and logs loop_detected; the proxy's own listener keeps serving. Start-up refuses
// a transparent listener with shared agent identity or off loopback, and `check` shows it. The
// redirected case itself runs in namespaces: transparent_mode_test.sh.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;

namespace {

// The transparent listener's port, from the proxy's "listening transparent" log line.
std::uint16_t transparent_port(const ProxyProcess& proxy) {
  const std::string marker = "\"listening transparent\",\"addr\":\"127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string err = proxy.stderr_text();
    if (const auto at = err.find(marker); at != std::string::npos) {
      return static_cast<std::uint16_t>(std::stoul(err.substr(at + marker.size())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("no transparent listener: " << proxy.stderr_text());
  return 0;
}

std::string config_file(const TempDir& dir, const std::string& proxy) {
  const std::string path = dir.file("flow.yaml");
  write_text_file(path, "version: 1\nproxy:\n" + proxy);
  return path;
}

}  // namespace

TEST_CASE("a connection straight to the transparent port is closed as loop_detected") {
  ProxyProcess proxy({"--transparent", "127.0.0.1:0", "--agent", "bot"});
  const std::uint16_t port = transparent_port(proxy);
  REQUIRE(port != 0);
  REQUIRE(port != proxy.port());
  {
    ClientConnection client(port);
    client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    std::string received;
    CHECK(client.wait_for_close(default_deadline(), &received));
    CHECK(
        received.empty());  // a redirected client is answered nothing it did not ask of its origin
  }
  const auto entries = proxy.wait_for_access_log(1, default_deadline());
  CHECK(entries[0]["mode"] == "transparent");
  CHECK(entries[0]["error"] == "loop_detected");
  CHECK(entries[0]["status"] == 0);
  CHECK(entries[0]["agent"] == "bot");

  // The proxy's own listener still serves, and its lines carry no mode.
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  ClientConnection client(proxy.port());
  const HttpResponse r =
      client.exchange("GET http://" + origin.authority() +
                      "/ok HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n");
  CHECK(r.status == 200);
  const auto after = proxy.wait_for_access_log(2, default_deadline());
  CHECK(after[1]["method"] == "GET");
  CHECK_FALSE(after[1].contains("mode"));
}

TEST_CASE("a transparent listener is refused with shared identity and off loopback") {
  TempDir dir;
  struct Bad {
    const char* name;
    std::string proxy;
    const char* message;
  };
  const Bad cases[] = {
      {"shared identity", "  listen: 127.0.0.1:0\n  identity: shared\n  transparent: 127.0.0.1:0\n",
       "proxy.transparent (--transparent) needs proxy.identity: sidecar"},
      {"every interface", "  listen: 127.0.0.1:0\n  agent: bot\n  transparent: 0.0.0.0:0\n",
       "refusing to listen on 0.0.0.0:0"},
      {"not an address", "  listen: 127.0.0.1:0\n  agent: bot\n  transparent: nowhere\n",
       "invalid transparent address 'nowhere'"},
  };
  for (const Bad& bad : cases) {
    CAPTURE(bad.name);
    const std::string path = config_file(dir, bad.proxy);
    const auto checked = run_command({flow_binary(), "check", path}, std::chrono::seconds(10));
    const auto ran = run_command({flow_binary(), "run", "-c", path}, std::chrono::seconds(10));
    CHECK(checked.status.code == 2);
    CHECK(ran.status.code == 2);
    CHECK(checked.err.find(bad.message) != std::string::npos);
    CHECK(ran.err.find(bad.message) != std::string::npos);
  }
}

TEST_CASE("check shows the transparent listener") {
  TempDir dir;
  const std::string path =
      config_file(dir, "  listen: 127.0.0.1:8402\n  agent: bot\n  transparent: 127.0.0.1:15001\n");
  const auto checked = run_command({flow_binary(), "check", path}, std::chrono::seconds(10));
  INFO(checked.err);
  REQUIRE(checked.status.code == 0);
  CHECK(checked.out.find("transparent      127.0.0.1:15001") != std::string::npos);
}

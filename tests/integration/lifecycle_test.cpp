// Process lifecycle of `402flow run`: graceful drain on SIGTERM, forced exit after
// --drain-timeout, SIGINT, SIGHUP being ignored, and refusing a non-loopback listen address.
#include <doctest/doctest.h>

#include <cctype>
#include <csignal>
#include <filesystem>
#include <future>
#include <string>

#include "proxy_expectations.hpp"
#include "support/child_process.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;
using std::chrono::milliseconds;

namespace {

// True once connecting to the port fails, or a connection is closed before any byte is served.
bool wait_until_connections_refused(std::uint16_t port, Deadline deadline) {
  while (Clock::now() < deadline) {
    Fd fd;
    ConnectResult result = try_connect_loopback(port, deadline_in(milliseconds(500)), fd);
    if (result == ConnectResult::refused) return true;
    if (result == ConnectResult::connected) {
      ClientConnection probe(std::move(fd));
      std::string received;
      if (probe.wait_for_close(deadline_in(milliseconds(100)), &received) && received.empty()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

TEST_CASE("SIGTERM lets an in-flight response finish, refuses new connections and exits 0") {
  const std::string first_half(64 * 1024, 'a');
  const std::string second_half(64 * 1024, 'b');
  Gate first_half_sent;
  Gate finish;
  TestOrigin origin([&](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nContent-Length: " +
            std::to_string(first_half.size() + second_half.size()) + "\r\n\r\n" + first_half);
    first_half_sent.open();
    ex.wait(finish, default_deadline());
    ex.send(second_half);
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  client.send(absolute_get(origin, "/slow"));
  auto pending = std::async(std::launch::async, [&] { return client.read_response(); });

  REQUIRE(first_half_sent.wait(default_deadline()));
  proxy.send_signal(SIGTERM);
  CHECK(wait_until_connections_refused(proxy.port(), default_deadline()));
  CHECK(proxy.running());  // still draining the in-flight exchange
  finish.open();

  HttpResponse response = pending.get();
  CHECK(response.status == 200);
  CHECK(response.body.size() == first_half.size() + second_half.size());
  CHECK(response.body == first_half + second_half);
  auto status = proxy.wait_exit(kDefaultTimeout);
  REQUIRE(status.has_value());
  CHECK(status->describe() == "exit code 0");
}

TEST_CASE("SIGTERM with an exchange that never finishes exits 0 after --drain-timeout") {
  Gate never;
  TestOrigin origin([&](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
    ex.wait(never, default_deadline());
  });
  ProxyProcess proxy({"--drain-timeout", "500ms"});
  ClientConnection client(proxy.port());
  client.send(absolute_get(origin, "/stuck"));
  REQUIRE(origin.wait_for_requests(1, default_deadline()));
  auto start = Clock::now();
  proxy.send_signal(SIGTERM);
  auto status = proxy.wait_exit(kDefaultTimeout);
  auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  REQUIRE(status.has_value());
  CHECK(status->describe() == "exit code 0");
  CHECK(waited >= milliseconds(400));
  CHECK(waited < milliseconds(10'000));  // the 30 s default drain would overshoot this
}

TEST_CASE("SIGINT stops an idle proxy with exit code 0") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "served"); });
  ProxyProcess proxy;
  // A served request proves the event loop (and its signal handling) is running.
  CHECK(ClientConnection(proxy.port()).exchange(absolute_get(origin, "/")).status == 200);
  proxy.send_signal(SIGINT);
  auto status = proxy.wait_exit(kDefaultTimeout);
  REQUIRE(status.has_value());
  CHECK(status->describe() == "exit code 0");
}

TEST_CASE("the stopped line reports the proxy's totals") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "served"); });
  ProxyProcess proxy;
  {
    ClientConnection client(proxy.port());
    CHECK(client.exchange(absolute_get(origin, "/a")).status == 200);
    CHECK(client.exchange(absolute_get(origin, "/b")).status == 200);
  }
  CHECK(
      ClientConnection(proxy.port()).exchange("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n").status ==
      400);
  proxy.send_signal(SIGTERM);
  REQUIRE(proxy.wait_exit(kDefaultTimeout).has_value());
  const std::string log = proxy.stderr_text();
  const auto at = log.find("\"msg\":\"stopped\"");
  REQUIRE_MESSAGE(at != std::string::npos, log);
  const std::string line = log.substr(at, log.find('\n', at) - at);
  INFO(line);
  CHECK(line.find("\"connections_accepted\":2") != std::string::npos);
  // The relative target is an exchange too, ended by the proxy's own 400.
  CHECK(line.find("\"exchanges_total\":3") != std::string::npos);
  CHECK(line.find("\"errors\":{\"bad_request\":1}") != std::string::npos);
  CHECK(line.find("\"upstream_connects\":1") != std::string::npos);
  CHECK(line.find("\"upstream_reused\":1") != std::string::npos);
}

TEST_CASE("SIGHUP is ignored: the proxy keeps serving and later exits 0 on SIGTERM") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "still here"); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  CHECK(client.exchange(absolute_get(origin, "/before-hup")).status == 200);
  proxy.send_signal(SIGHUP);
  auto response = client.exchange(absolute_get(origin, "/after-hup"));
  CHECK(response.body == "still here");
  CHECK(proxy.running());
  proxy.send_signal(SIGTERM);
  auto status = proxy.wait_exit(kDefaultTimeout);
  REQUIRE(status.has_value());
  CHECK(status->describe() == "exit code 0");
}

TEST_CASE("signals sent the moment the port file appears are already handled") {
  // Supervisors and scripts treat the port file as "ready"; a SIGHUP right then must not kill
  // the proxy by the default disposition. Several rounds, because it is a race.
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    ProxyProcess proxy;
    proxy.send_signal(SIGHUP);
    proxy.send_signal(SIGTERM);
    auto status = proxy.wait_exit(kDefaultTimeout);
    REQUIRE(status.has_value());
    REQUIRE(status->describe() == "exit code 0");
  }
}

TEST_CASE("a non-loopback listen address is refused at start with a message about authentication") {
  TempDir dir;
  auto result =
      run_command({flow_binary(), "run", "--listen", "0.0.0.0:0", "--port-file", dir.file("port")},
                  kDefaultTimeout);
  INFO("stderr: " << result.err);
  CHECK(result.status.describe() == "exit code 2");
  std::string lowered = result.err;
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(lowered.find("authentication") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("port")));
}

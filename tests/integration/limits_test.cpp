// Configured limits and upstream failures: each produces the contract's status and JSON error,
// and the timeouts fire after the configured time, not the defaults.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;
using std::chrono::milliseconds;

namespace {

// Configured timeouts in these tests are 500 ms; allow for timer granularity, never for defaults.
constexpr milliseconds kAtLeast{400};
constexpr milliseconds kWellBelowDefaults{10'000};

milliseconds elapsed_since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

void respond_ok(OriginExchange& ex) {
  ex.respond(200, "ok");
}

}  // namespace

TEST_CASE("a request head larger than --max-header-bytes is answered 431 header_too_large") {
  TestOrigin origin(respond_ok);
  ProxyProcess proxy({"--max-header-bytes", "4096"});

  ClientConnection small(proxy.port());
  auto fits =
      small.exchange(absolute_get(origin, "/fits", "X-Filler: " + std::string(2500, 'a') + "\r\n"));
  CHECK(fits.status == 200);

  ClientConnection big(proxy.port());
  auto response = big.exchange(
      absolute_get(origin, "/too-big", "X-Filler: " + std::string(6000, 'a') + "\r\n"));
  check_proxy_error(response, 431, "header_too_large");
  CHECK(big.wait_for_close());
  REQUIRE(origin.request_count() == 1);
  CHECK(origin.requests().front().target == "/fits");
}

TEST_CASE("a host that does not resolve is answered 502 upstream_unreachable") {
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange(
      "GET http://nonexistent.invalid/ HTTP/1.1\r\nHost: nonexistent.invalid\r\n\r\n");
  check_proxy_error(response, 502, "upstream_unreachable");
}

TEST_CASE("a refused upstream connection is answered 502 upstream_unreachable") {
  std::uint16_t closed_port = closed_loopback_port();
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  std::string authority = "127.0.0.1:" + std::to_string(closed_port);
  auto response =
      client.exchange("GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  check_proxy_error(response, 502, "upstream_unreachable");
}

TEST_CASE("an origin that closes without answering is answered 502 upstream_unreachable") {
  TestOrigin origin([](OriginExchange& ex) { ex.drop(); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  check_proxy_error(client.exchange(absolute_get(origin, "/drop")), 502, "upstream_unreachable");
}

TEST_CASE(
    "an origin that answers garbage instead of a response head is answered 502 "
    "upstream_protocol") {
  TestOrigin origin([](OriginExchange& ex) {
    ex.send("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    ex.close_after();
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  check_proxy_error(client.exchange(absolute_get(origin, "/garbage")), 502, "upstream_protocol");
}

TEST_CASE(
    "an origin that never answers is answered 504 upstream_timeout after --upstream-timeout") {
  Gate never;
  TestOrigin origin([&](OriginExchange& ex) { ex.wait(never, default_deadline()); });
  ProxyProcess proxy({"--upstream-timeout", "500ms"});
  ClientConnection client(proxy.port());
  auto start = Clock::now();
  auto response = client.exchange(absolute_get(origin, "/silent"));
  auto waited = elapsed_since(start);
  check_proxy_error(response, 504, "upstream_timeout");
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
  CHECK(origin.request_count() == 1);
}

TEST_CASE(
    "an origin that stalls mid-body is cut off after --upstream-timeout and the client connection "
    "closes") {
  Gate never;
  TestOrigin origin([&](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
    ex.wait(never, default_deadline());
  });
  ProxyProcess proxy({"--upstream-timeout", "500ms"});
  ClientConnection client(proxy.port());
  client.send(absolute_get(origin, "/stall"));
  auto start = Clock::now();
  std::string outcome;
  try {
    client.read_response();
    outcome = "a complete response";
  } catch (const ParseError&) {
    outcome = "closed";  // the body ended short of its Content-Length
  } catch (const ConnectionReset&) {
    outcome = "closed";
  } catch (const TimeoutError&) {
    outcome = "still open after the test deadline";
  }
  auto waited = elapsed_since(start);
  CHECK(outcome == "closed");
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
}

TEST_CASE("an upstream connect that does not complete within --connect-timeout is answered 504") {
  // A listener with a full accept queue: Linux drops further SYNs, so connect() hangs on loopback.
  Fd listener = listen_loopback(0);
  std::uint16_t port = local_port(listener.get());
  Fd filler = connect_loopback(port, default_deadline());
  ProxyProcess proxy({"--connect-timeout", "500ms"});
  ClientConnection client(proxy.port());
  std::string authority = "127.0.0.1:" + std::to_string(port);
  auto start = Clock::now();
  auto response =
      client.exchange("GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  auto waited = elapsed_since(start);
  check_proxy_error(response, 504, "upstream_timeout");
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
}

TEST_CASE("a connection beyond --max-connections is answered 503 too_many_connections") {
  TestOrigin origin(respond_ok);
  ProxyProcess proxy({"--max-connections", "2"});
  auto first = std::make_unique<ClientConnection>(proxy.port());
  ClientConnection second(proxy.port());
  // Both are served, so the proxy has certainly accepted and counted them.
  CHECK(first->exchange(absolute_get(origin, "/1")).status == 200);
  CHECK(second.exchange(absolute_get(origin, "/2")).status == 200);

  {
    ClientConnection third(proxy.port());
    auto refused = third.exchange(absolute_get(origin, "/3"));
    check_proxy_error(refused, 503, "too_many_connections");
    CHECK(third.wait_for_close());
  }  // closed on our side too, so the proxy need not linger on it

  // Closing one frees its slot (the proxy notices asynchronously, so retry until the deadline).
  first.reset();
  Deadline deadline = default_deadline();
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    ClientConnection next(proxy.port());
    status = next.exchange(absolute_get(origin, "/after-close")).status;
  }
  CHECK(status == 200);
  CHECK(second.exchange(absolute_get(origin, "/still-open")).status == 200);
}

TEST_CASE(
    "a client that sends half a request head gets 408 and is disconnected after --header-timeout") {
  TestOrigin origin(respond_ok);
  ProxyProcess proxy({"--header-timeout", "500ms"});
  ClientConnection client(proxy.port());
  auto start = Clock::now();
  client.send("GET " + origin.url("/slow") + " HTTP/1.1\r\nHost: " + origin.authority() + "\r\n");
  auto response = client.read_response();
  auto waited = elapsed_since(start);
  check_proxy_error(response, 408, "request_timeout");
  CHECK(client.wait_for_close());
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
  CHECK(origin.request_count() == 0);
}

TEST_CASE("a client that trickles its request head is still cut off by --header-timeout") {
  TestOrigin origin(respond_ok);
  ProxyProcess proxy({"--header-timeout", "500ms"});
  ClientConnection client(proxy.port());
  auto start = Clock::now();
  bool closed = false;
  try {
    client.send("GET " + origin.url("/slowloris") + " HTTP/1.1\r\n");
    // One header line every 100 ms: each byte arriving must not restart the clock.
    while (!closed && elapsed_since(start) < kWellBelowDefaults) {
      client.send("X-Trickle: " + std::to_string(elapsed_since(start).count()) + "\r\n");
      closed = client.wait_for_close(deadline_in(milliseconds(100)));
    }
  } catch (const IoError&) {
    closed = true;  // the proxy closed while we were still writing
  }
  auto waited = elapsed_since(start);
  CHECK(closed);
  CHECK(waited >= kAtLeast);
  CHECK(waited < milliseconds(5000));
  CHECK(origin.request_count() == 0);
}

TEST_CASE("a connection that sends nothing is closed after --header-timeout without a response") {
  ProxyProcess proxy({"--header-timeout", "500ms"});
  ClientConnection client(proxy.port());
  auto start = Clock::now();
  std::string received;
  CHECK(client.wait_for_close(default_deadline(), &received));
  auto waited = elapsed_since(start);
  CHECK(received.empty());
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
}

TEST_CASE("an idle keep-alive connection is closed after --idle-timeout") {
  TestOrigin origin(respond_ok);
  ProxyProcess proxy({"--idle-timeout", "500ms", "--header-timeout", "30s"});
  ClientConnection client(proxy.port());
  CHECK(client.exchange(absolute_get(origin, "/once")).status == 200);
  auto start = Clock::now();
  std::string received;
  CHECK(client.wait_for_close(default_deadline(), &received));
  auto waited = elapsed_since(start);
  CHECK(received.empty());
  CHECK(waited >= kAtLeast);
  CHECK(waited < kWellBelowDefaults);
}

// Answers the proxy writes itself, through the real binary: the agent's X-402flow-* control
// headers are validated when the request arrives (400, nothing forwarded, nothing paid); every
// such answer honours the client's wish to close the connection (Connection: close, HTTP/1.0);
// and every one is in the access log with its reason code and its real body size.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/paid_proxy.hpp"
#include "support/test_origin.hpp"
#include "support/x402_origin_wire.hpp"
#include "x402_shop.hpp"

using namespace flow::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Far longer than any wait below: a connection the proxy leaves open shows as a timeout.
const std::vector<std::string> kLongIdle = {"--idle-timeout", "60s"};
constexpr auto kPromptClose = 3s;

PaidProxyOptions long_idle(std::string identity = "sidecar") {
  PaidProxyOptions o;
  o.extra_args = kLongIdle;
  o.identity = identity;
  if (identity == "shared") o.agent.clear();
  return o;
}

std::string http10_get(const TestOrigin& origin, std::string_view path,
                       std::string_view extra_headers = {}) {
  return "GET " + origin.url(path) + " HTTP/1.0\r\nHost: " + origin.authority() + "\r\n" +
         std::string(extra_headers) + "\r\n";
}

struct Answered {
  HttpResponse response;
  bool closed_promptly = false;
};

// Sends `raw` on a fresh connection, reads the answer, then reads on to the end of the stream.
Answered send_and_read_to_eof(std::uint16_t port, const std::string& raw) {
  ClientConnection client(port);
  Answered a;
  a.response = client.exchange(raw);
  a.closed_promptly = client.wait_for_close(deadline_in(kPromptClose));
  return a;
}

// The access line with `status` (the only one expected).
json access_line_with_status(const std::vector<json>& lines, int status) {
  std::vector<json> found;
  for (const auto& l : lines) {
    if (l.value("status", 0) == status) found.push_back(l);
  }
  INFO("status " << status);
  REQUIRE(found.size() == 1);
  return found.front();
}

void check_logged(const json& line, const HttpResponse& r, std::string_view reason) {
  INFO("access line: " << line.dump() << "\nresponse:\n" << r.head << r.body);
  CHECK(line.value("status", 0) == r.status);
  CHECK(line.value("reason", "<absent>") == reason);
  REQUIRE(r.header("content-length"));
  CHECK(std::to_string(line.value("resp_body_bytes", 0u)) == *r.header("content-length"));
  CHECK(line.value("resp_body_bytes", 0u) == r.body.size());
}

}  // namespace

TEST_CASE("control headers are validated on arrival: a bad one is 400, nothing forwarded or paid") {
  Shop shop;
  PaidProxy proxy;
  struct Case {
    std::string headers;
    std::string code;
    std::string header;
  };
  const std::vector<Case> cases = {
      {"X-402flow-Mode: dry-run\r\n", "invalid_control_header", "X-402flow-Mode"},
      {"X-402flow-Mode: execute\r\n", "invalid_control_header", "X-402flow-Mode"},
      {"X-402flow-Mode: prepare,prepare\r\n", "invalid_control_header", "X-402flow-Mode"},
      {"X-402flow-Mode: prepare x\r\n", "invalid_control_header", "X-402flow-Mode"},
      {"X-402flow-Mode:\r\n", "invalid_control_header", "X-402flow-Mode"},
      {"X-402flow-Mode: prepare\r\nx-402flow-mode: prepare\r\n", "invalid_control_header",
       "X-402flow-Mode"},
      {"X-402flow-Max-Amount:\r\n", "invalid_control_header", "X-402flow-Max-Amount"},
      {"X-402flow-Max-Amount: \t\r\n", "invalid_control_header", "X-402flow-Max-Amount"},
      {"X-402flow-Max-Amount: 1 USDC\r\nX-402flow-Max-Amount: 2 USDC\r\n", "invalid_control_header",
       "X-402flow-Max-Amount"},
      {"X-402flow-Max-Amount: abc\r\n", "bad_max_amount", "X-402flow-Max-Amount"},
      {"X-402flow-Max-Amount: 0.05 USDC,\r\n", "bad_max_amount", "X-402flow-Max-Amount"},
      {"X-402flow-Prepared:\r\n", "invalid_control_header", "X-402flow-Prepared"},
      {"X-402flow-Prepared: prep_1, prep_2\r\n", "invalid_control_header", "X-402flow-Prepared"},
      {"X-402flow-Custom: x\r\n", "invalid_control_header", "X-402flow-Custom"},
      {"x-402FLOW-paid: yes\r\n", "invalid_control_header", "x-402FLOW-paid"},
  };
  for (const auto& c : cases) {
    for (const std::string path : {"/paid/ctl", "/free"}) {
      const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), path, c.headers);
      INFO(path << " with\n" << c.headers << "answered:\n" << r.head << r.body);
      CHECK(r.status == 400);
      const json problem = problem_of(r);
      CHECK(problem.value("code", "") == c.code);
      CHECK(problem.value("header", "") == c.header);
      CHECK(problem.value("detail", "").find(c.header) != std::string::npos);
    }
  }
  CHECK(shop.origin.request_count() == 0);  // nothing was forwarded
  CHECK(proxy.receipts().empty());
}

TEST_CASE("a control value with optional whitespace around it is the value itself") {
  Shop shop;
  PaidProxy proxy;
  for (const std::string mode : {"prepare ", "prepare\t", " \tprepare \t "}) {
    const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/prep",
                                         "X-402flow-Mode: " + mode + "\r\n");
    INFO("mode '" << mode << "'\n" << r.head << r.body);
    CHECK(r.status == 402);  // prepare mode's own answer: looked, not paid
    CHECK(header_or_absent(r, "content-type") == "application/json");
    CHECK(header_or_absent(r, "x-402flow-prepared").rfind("prep_", 0) == 0);
  }
  CHECK(shop.credentials_seen() == 0);
  CHECK(proxy.receipts().empty());
}

TEST_CASE(
    "Idempotency-Key values that differ only in trailing whitespace are one key, one payment") {
  Shop shop;
  PaidProxy proxy;
  const HttpResponse first =
      get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/once", "Idempotency-Key: k\r\n");
  CHECK(first.status == 200);
  CHECK(header_or_absent(first, "x-402flow-payment-state") == "settled");
  for (const std::string key : {"k ", "k\t", "k \t"}) {
    const HttpResponse again = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/once",
                                             "Idempotency-Key: " + key + "\r\n");
    INFO("key '" << key << "'\n" << again.head << again.body);
    CHECK(again.status == 409);
    CHECK(header_or_absent(again, "x-402flow-error") == "already_paid");
  }
  CHECK(shop.credentials_seen() == 1);
  CHECK(proxy.receipts().size() == 1);
}

TEST_CASE("a request carrying two Idempotency-Key headers is refused before anything is paid") {
  Shop shop;
  PaidProxy proxy;
  for (const std::string keys : {"Idempotency-Key: k\r\nIdempotency-Key: j\r\n",
                                 "Idempotency-Key: k\r\nidempotency-key: k\r\n"}) {
    const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/once", keys);
    INFO(keys << "\n" << r.head << r.body);
    CHECK(r.status == 400);
    CHECK(header_or_absent(r, "x-402flow-error") == "invalid_idempotency_key");
  }
  CHECK(shop.credentials_seen() == 0);
  CHECK(proxy.receipts().empty());
}

TEST_CASE("answers the proxy writes itself close the connection when the client asks") {
  Shop shop;
  PaidProxy proxy(long_idle());
  const std::string o = shop.origin.authority();
  // A settled payment whose key a second URL then reuses: 409 idempotency_conflict.
  REQUIRE(get_via_proxy(proxy.port(), o, "/paid/first", "Idempotency-Key: reused\r\n").status ==
          200);

  struct Case {
    std::string name;
    std::string path;
    std::string headers;
    int status;
  };
  const std::vector<Case> cases = {
      {"400 invalid control header", "/paid/a", "X-402flow-Mode: dry-run\r\n", 400},
      {"400 bad_max_amount", "/paid/b", "X-402flow-Max-Amount: abc\r\n", 400},
      {"403 policy deny", "/other/c", "", 403},
      {"402 prepare", "/paid/d", "X-402flow-Mode: prepare\r\n", 402},
      {"409 idempotency conflict", "/paid/e", "Idempotency-Key: reused\r\n", 409},
      {"403 over the agent's max amount", "/paid/f", "X-402flow-Max-Amount: 0.001 USDC\r\n", 403},
  };
  for (const auto& c : cases) {
    SUBCASE(("HTTP/1.1 Connection: close: " + c.name).c_str()) {
      const Answered a =
          send_and_read_to_eof(proxy.port(), proxied_request("GET", o, c.path, c.headers));
      INFO(a.response.head << a.response.body);
      CHECK(a.response.status == c.status);
      CHECK(header_has_token(a.response.headers, "connection", "close"));
      CHECK(a.closed_promptly);
    }
    SUBCASE(("HTTP/1.0: " + c.name).c_str()) {
      const Answered a =
          send_and_read_to_eof(proxy.port(), http10_get(shop.origin, c.path, c.headers));
      INFO(a.response.head << a.response.body);
      CHECK(a.response.status == c.status);
      CHECK(a.closed_promptly);
    }
  }
  CHECK(shop.credentials_seen() == 1);  // only the first, settled payment
}

TEST_CASE("a 407 closes the connection the client asked to close, on HTTP/1.1 and HTTP/1.0") {
  Shop shop;
  PaidProxy proxy(long_idle("shared"));
  for (const std::string& raw : {proxied_request("GET", shop.origin.authority(), "/paid/x"),
                                 http10_get(shop.origin, "/paid/x")}) {
    const Answered a = send_and_read_to_eof(proxy.port(), raw);
    INFO(a.response.head << a.response.body);
    CHECK(a.response.status == 407);
    CHECK(a.closed_promptly);
  }
  CHECK(shop.origin.request_count() == 0);
}

TEST_CASE("a proxy-made answer keeps a connection the client wants kept") {
  Shop shop;
  PaidProxy proxy(long_idle());
  SUBCASE("HTTP/1.1") {
    ClientConnection client(proxy.port());
    const HttpResponse denied = client.exchange(absolute_get(shop.origin, "/other/x"));
    CHECK(denied.status == 403);
    CHECK_FALSE(header_has_token(denied.headers, "connection", "close"));
    CHECK(client.exchange(absolute_get(shop.origin, "/free")).status == 200);
  }
  SUBCASE("HTTP/1.0 with keep-alive") {
    ClientConnection client(proxy.port());
    const HttpResponse denied =
        client.exchange(http10_get(shop.origin, "/other/x", "Connection: keep-alive\r\n"));
    CHECK(denied.status == 403);
    CHECK(header_has_token(denied.headers, "connection", "keep-alive"));
    CHECK(client.exchange(http10_get(shop.origin, "/free", "Connection: keep-alive\r\n")).status ==
          200);
  }
}

TEST_CASE("every answer the proxy writes is logged with its reason and its body size") {
  Shop shop;
  const std::string o = shop.origin.authority();
  SUBCASE("400, 403, prepare 402, and a relayed 402") {
    PaidProxy proxy;
    const HttpResponse bad = get_via_proxy(proxy.port(), o, "/free", "X-402flow-Mode: x\r\n");
    const HttpResponse denied = get_via_proxy(proxy.port(), o, "/other/x");
    const HttpResponse looked =
        get_via_proxy(proxy.port(), o, "/paid/x", "X-402flow-Mode: prepare\r\n");
    REQUIRE(bad.status == 400);
    REQUIRE(denied.status == 403);
    REQUIRE(looked.status == 402);
    const auto lines = proxy.process().wait_for_access_log(3, default_deadline());
    check_logged(access_line_with_status(lines, 400), bad, "invalid_control_header");
    check_logged(access_line_with_status(lines, 403), denied, "merchant_not_allowed");
    check_logged(access_line_with_status(lines, 402), looked, "allowed");
  }
  SUBCASE("407") {
    PaidProxy proxy(long_idle("shared"));
    const HttpResponse r = get_via_proxy(proxy.port(), o, "/paid/x");
    REQUIRE(r.status == 407);
    const auto lines = proxy.process().wait_for_access_log(1, default_deadline());
    check_logged(access_line_with_status(lines, 407), r, "proxy_auth_required");
  }
  SUBCASE("503 over the connection limit") {
    PaidProxyOptions options;
    options.extra_args = {"--max-connections", "1"};
    PaidProxy proxy(options);
    ClientConnection held(proxy.port());
    REQUIRE(held.exchange(absolute_get(shop.origin, "/free")).status == 200);
    ClientConnection refused(proxy.port());
    const HttpResponse r = refused.exchange(absolute_get(shop.origin, "/free"));
    REQUIRE(r.status == 503);
    const auto lines = proxy.process().wait_for_access_log(2, default_deadline());
    check_logged(access_line_with_status(lines, 503), r, "too_many_connections");
  }
}

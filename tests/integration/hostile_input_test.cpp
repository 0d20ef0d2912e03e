// Requests that could smuggle or confuse framing are refused with 400 and never reach the origin;
// requests the proxy must not forward at all get their own answers (508, 501).
#include <doctest/doctest.h>

#include <string>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/raw_origin.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;

namespace {

struct Fixture {
  TestOrigin origin{[](OriginExchange& ex) { ex.respond(200, "origin" + ex.request().target); }};
  ProxyProcess proxy;

  std::string request_line(std::string_view method, std::string_view path) const {
    return std::string(method) + " " + origin.url(path) +
           " HTTP/1.1\r\nHost: " + origin.authority() + "\r\n";
  }

  // Sends `raw`, expects the proxy's own `status`/`code` answer, then proves nothing reached the
  // origin: a later valid request is the first and only thing the origin ever saw.
  void expect_refused(const std::string& raw, int status, std::string_view code,
                      bool connection_closes = true) {
    ClientConnection client(proxy.port());
    client.send(raw);
    auto response = client.read_response();
    check_proxy_error(response, status, code);
    if (connection_closes) CHECK(client.wait_for_close());

    ClientConnection barrier(proxy.port());
    auto ok = barrier.exchange(absolute_get(origin, "/barrier"));
    CHECK(ok.status == 200);
    auto seen = origin.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen.front().target == "/barrier");
    CHECK(origin.parse_errors() == 0);
  }
};

}  // namespace

TEST_CASE(
    "a request with both Content-Length and Transfer-Encoding is refused with 400 and not "
    "forwarded") {
  Fixture f;
  f.expect_refused(f.request_line("POST", "/smuggle") +
                       "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   400, "bad_request");
}

TEST_CASE(
    "a request with two conflicting Content-Length headers is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(
      f.request_line("POST", "/smuggle") + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      400, "bad_request");
}

TEST_CASE(
    "a request with a duplicated Content-Length header is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(
      f.request_line("POST", "/smuggle") + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
      400, "bad_request");
}

TEST_CASE("a header with whitespace before the colon is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(f.request_line("POST", "/smuggle") + "Content-Length : 5\r\n\r\nhello", 400,
                   "bad_request");
}

TEST_CASE("a request with Transfer-Encoding gzip is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(f.request_line("POST", "/smuggle") + "Transfer-Encoding: gzip\r\n\r\nabcde", 400,
                   "bad_request");
}

TEST_CASE(
    "a request whose final transfer coding is not chunked is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(f.request_line("POST", "/smuggle") +
                       "Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                   400, "bad_request");
}

TEST_CASE("a request with a malformed chunk size is refused with 400 and not forwarded") {
  Fixture f;
  f.expect_refused(f.request_line("POST", "/smuggle") +
                       "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                   400, "bad_request");
}

TEST_CASE("an origin-form request target sent to the proxy is refused with 400") {
  Fixture f;
  f.expect_refused("GET /not-absolute HTTP/1.1\r\nHost: " + f.origin.authority() + "\r\n\r\n", 400,
                   "bad_request");
}

TEST_CASE("a request addressed to the proxy's own listen address is answered 508 loop_detected") {
  Fixture f;
  f.expect_refused("GET http://" + f.proxy.authority() +
                       "/ HTTP/1.1\r\nHost: " + f.proxy.authority() + "\r\n\r\n",
                   508, "loop_detected", false);
}

// The proxy originates TLS for an https:// target sent in plaintext (older axios): to an origin
// that does not speak TLS that fails, and the answer names why; nothing goes out in clear.
TEST_CASE(
    "an absolute-form https target to an origin without TLS is answered 502 upstream_tls_failed") {
  std::string origin_saw;
  RawOrigin origin([&](SocketStream& peer) {  // reads what comes, answers nothing, closes
    char buf[4096];
    const std::size_t n = peer.read_some(buf, sizeof buf, default_deadline());
    origin_saw.assign(buf, n);
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  client.send("GET https://" + origin.authority() +
              "/secure HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n");
  auto response = client.read_response();
  check_proxy_error(response, 502, "upstream_tls_failed");
  CHECK(response.body.find("TLS with " + origin.authority() + " failed") != std::string::npos);
  REQUIRE_FALSE(origin_saw.empty());
  CHECK(origin_saw[0] == '\x16');  // a TLS handshake record: the request never went in clear
  CHECK(origin_saw.find("/secure") == std::string::npos);
}

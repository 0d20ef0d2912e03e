// Plain HTTP forwarding through the real proxy: connection reuse, the exact shape of what goes
// upstream and comes back, body framings, and the message kinds that carry no body.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy_expectations.hpp"
#include "support/child_process.hpp"
#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;

namespace {

std::string joined_values(const Headers& headers, std::string_view name) {
  std::string out;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "several requests on one client connection are served over one reused upstream connection") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "hello " + ex.request().target); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  for (int i = 0; i < 3; ++i) {
    std::string path = "/item/" + std::to_string(i);
    auto response = client.exchange(absolute_get(origin, path));
    CHECK(response.status == 200);
    CHECK(response.body == "hello " + path);
  }
  CHECK(origin.request_count() == 3);
  CHECK(origin.accepted_connections() == 1);
}

TEST_CASE("curl fetching two URLs reuses its proxy connection and the upstream connection") {
  std::string curl = find_executable("curl");
  REQUIRE_MESSAGE(!curl.empty(), "curl is not installed (scripts/setup.sh installs it)");
  TestOrigin origin(
      [](OriginExchange& ex) { ex.respond(200, "body" + ex.request().target + "\n"); });
  ProxyProcess proxy;
  auto result =
      run_command({curl, "-q", "-sS", "--max-time", "20", "-x", "http://" + proxy.authority(), "-w",
                   "[connects=%{num_connects}]\n", origin.url("/a"), origin.url("/b")},
                  std::chrono::seconds(30));
  INFO("curl stderr: " << result.err);
  CHECK(result.status.exited);
  CHECK(result.status.code == 0);
  // num_connects = 0 on the second transfer: curl reused its connection to the proxy.
  CHECK(result.out == "body/a\n[connects=1]\nbody/b\n[connects=0]\n");
  CHECK(origin.request_count() == 2);
  CHECK(origin.accepted_connections() == 1);
}

TEST_CASE("the forwarded request uses origin-form, the URL authority as Host, and appends Via") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange("GET " + origin.url("/path/x?q=1&r=%20") + " HTTP/1.1\r\n" +
                                  "Host: stale.example:81\r\n"
                                  "User-Agent: flow-test/1\r\n"
                                  "Accept: text/plain\r\n"
                                  "Via: 1.0 agent-side\r\n"
                                  "X-Custom: kept value, with comma\r\n"
                                  "\r\n");
  CHECK(response.status == 200);
  REQUIRE(origin.request_count() == 1);
  HttpRequest seen = origin.requests().front();
  INFO("upstream head:\n" << seen.head);
  CHECK(seen.head.rfind("GET /path/x?q=1&r=%20 HTTP/1.1\r\n", 0) == 0);
  CHECK(count_header(seen.headers, "host") == 1);
  CHECK(header_or_absent(seen, "host") == origin.authority());
  CHECK(header_or_absent(seen, "user-agent") == "flow-test/1");
  CHECK(header_or_absent(seen, "accept") == "text/plain");
  CHECK(header_or_absent(seen, "x-custom") == "kept value, with comma");
  std::string via = joined_values(seen.headers, "via");
  CHECK(header_has_token(seen.headers, "via", "1.0 agent-side"));
  CHECK(header_has_token(seen.headers, "via", "1.1 402flow"));
  CHECK(via.find("1.0 agent-side") < via.find("1.1 402flow"));  // appended, not prepended
}

TEST_CASE("hop-by-hop request headers are removed and end-to-end headers are kept") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange("GET " + origin.url("/hop") + " HTTP/1.1\r\n" +
                                  "Host: " + origin.authority() + "\r\n" +
                                  "Connection: keep-alive, X-Drop-Me\r\n"
                                  "X-Drop-Me: named-by-connection\r\n"
                                  "Proxy-Connection: keep-alive\r\n"
                                  "Keep-Alive: timeout=5, max=7\r\n"
                                  "TE: trailers, deflate\r\n"
                                  "Trailer: X-Checksum\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Proxy-Authorization: Basic YWdlbnQ6c2VjcmV0\r\n"
                                  "X-Keep-Me: yes\r\n"
                                  "Accept-Language: en\r\n"
                                  "Cookie: session=abc\r\n"
                                  "\r\n");
  CHECK(response.status == 200);
  REQUIRE(origin.request_count() == 1);
  HttpRequest seen = origin.requests().front();
  INFO("upstream head:\n" << seen.head);
  for (const char* name : {"x-drop-me", "proxy-connection", "keep-alive", "te", "trailer",
                           "upgrade", "proxy-authorization"}) {
    INFO("header " << name);
    CHECK(count_header(seen.headers, name) == 0);
  }
  CHECK_FALSE(header_has_token(seen.headers, "connection", "x-drop-me"));
  CHECK(header_or_absent(seen, "x-keep-me") == "yes");
  CHECK(header_or_absent(seen, "accept-language") == "en");
  CHECK(header_or_absent(seen, "cookie") == "session=abc");
}

TEST_CASE("hop-by-hop response headers are removed and the response gets a Via header") {
  TestOrigin origin([](OriginExchange& ex) {
    if (ex.request().target == "/next") return ex.respond(200, "next");
    ex.send(
        "HTTP/1.1 200 OK\r\n"
        "Connection: X-Origin-Hop\r\n"
        "X-Origin-Hop: secret\r\n"
        "Keep-Alive: timeout=5, max=7\r\n"
        "Proxy-Authenticate: Basic realm=\"origin\"\r\n"
        "Upgrade: h2c\r\n"
        "Trailer: X-Never\r\n"
        "X-End-To-End: kept\r\n"
        "Cache-Control: no-store\r\n"
        "Content-Length: 5\r\n"
        "\r\n"
        "hello");
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange(absolute_get(origin, "/hop"));
  INFO("response head:\n" << response.head);
  CHECK(response.status == 200);
  CHECK(response.body == "hello");
  for (const char* name :
       {"x-origin-hop", "keep-alive", "proxy-authenticate", "upgrade", "trailer"}) {
    INFO("header " << name);
    CHECK(count_header(response.headers, name) == 0);
  }
  CHECK_FALSE(header_has_token(response.headers, "connection", "x-origin-hop"));
  CHECK(header_or_absent(response, "x-end-to-end") == "kept");
  CHECK(header_or_absent(response, "cache-control") == "no-store");
  CHECK(header_has_token(response.headers, "via", "1.1 402flow"));
  // The origin named only X-Origin-Hop in Connection: the client connection stays usable.
  CHECK(client.exchange(absolute_get(origin, "/next")).body == "next");
}

TEST_CASE("a Content-Length request body reaches the origin intact") {
  TestOrigin origin(
      [](OriginExchange& ex) { ex.respond(200, "received " + std::to_string(ex.body().size())); });
  ProxyProcess proxy;
  std::string body(20000, '\0');
  PatternSource(3).fill(body.data(), body.size());
  ClientConnection client(proxy.port());
  auto response =
      client.exchange("POST " + origin.url("/upload") + " HTTP/1.1\r\nHost: " + origin.authority() +
                      "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(response.status == 200);
  CHECK(response.body == "received 20000");
  REQUIRE(origin.request_count() == 1);
  HttpRequest seen = origin.requests().front();
  CHECK(seen.method == "POST");
  CHECK(header_or_absent(seen, "content-length") == "20000");
  CHECK(seen.body == body);
}

TEST_CASE("a chunked upload reaches the origin intact, in order, with its trailer") {
  TestOrigin origin(
      [](OriginExchange& ex) { ex.respond(200, "received " + std::to_string(ex.body().size())); });
  ProxyProcess proxy;
  std::vector<std::string> chunks = {"first-", "second-", std::string(5000, 'x'), "-last"};
  std::string expected;
  for (const auto& c : chunks) expected += c;
  ClientConnection client(proxy.port());
  client.send("POST " + origin.url("/chunked") + " HTTP/1.1\r\nHost: " + origin.authority() +
              "\r\nTransfer-Encoding: chunked\r\n\r\n");
  // Separate writes, so the proxy sees the body arrive in pieces.
  std::string encoded = chunked_body(chunks, {{"X-Upload-Digest", "abc123"}});
  std::size_t third = encoded.size() / 3;
  client.send(encoded.substr(0, third));
  client.send(encoded.substr(third, third));
  client.send(encoded.substr(2 * third));
  auto response = client.read_response();
  CHECK(response.status == 200);
  CHECK(response.body == "received " + std::to_string(expected.size()));
  REQUIRE(origin.request_count() == 1);
  HttpRequest seen = origin.requests().front();
  INFO("upstream head:\n" << seen.head);
  CHECK(seen.body == expected);
  CHECK(seen.framing == BodyFraming::chunked);
  CHECK(find_header(seen.trailers, "x-upload-digest").value_or("<absent>") == "abc123");
}

TEST_CASE("a chunked download reaches an HTTP/1.1 client chunked, intact, with its trailers") {
  TestOrigin origin([](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    ex.send("5\r\nalpha\r\n");
    ex.pause(std::chrono::milliseconds(20));
    ex.send("4\r\nbeta\r\n");
    ex.pause(std::chrono::milliseconds(20));
    ex.send("5\r\ngamma\r\n0\r\nX-Digest: d1g3st\r\n\r\n");
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange(absolute_get(origin, "/stream"));
  INFO("response head:\n" << response.head);
  CHECK(response.status == 200);
  CHECK(response.framing == BodyFraming::chunked);
  CHECK(response.body == "alphabetagamma");
  CHECK(find_header(response.trailers, "x-digest").value_or("<absent>") == "d1g3st");
}

TEST_CASE("a close-delimited origin response reaches an HTTP/1.1 client complete") {
  TestOrigin origin([](OriginExchange& ex) {
    if (ex.request().target == "/after") return ex.respond(200, "after");
    ex.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    ex.send("part one, ");
    ex.pause(std::chrono::milliseconds(20));
    ex.send("part two, ");
    ex.send("the end");
    ex.close_after();
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response = client.exchange(absolute_get(origin, "/eof-framed"));
  INFO("response head:\n" << response.head);
  CHECK(response.status == 200);
  CHECK(response.body == "part one, part two, the end");
  // Re-chunked for a 1.1 client, so the client connection survives the origin's close.
  CHECK(response.framing == BodyFraming::chunked);
  if (response.framing == BodyFraming::chunked) {
    CHECK(client.exchange(absolute_get(origin, "/after")).body == "after");
  }
}

TEST_CASE(
    "a HEAD response keeps its Content-Length, carries no body, and the connection stays usable") {
  TestOrigin origin([](OriginExchange& ex) {
    if (ex.request().method == "HEAD") {
      ex.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n");
    } else {
      ex.respond(200, "after-head");
    }
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  ResponseReadOptions head_options;
  head_options.head_request = true;
  auto head = client.exchange(
      "HEAD " + origin.url("/doc") + " HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n",
      head_options);
  CHECK(head.status == 200);
  CHECK(header_or_absent(head, "content-length") == "1234");
  CHECK(head.body.empty());
  // Any body bytes the proxy wrongly sent would be parsed as the next status line here.
  auto next = client.exchange(absolute_get(origin, "/doc"));
  CHECK(next.status == 200);
  CHECK(next.body == "after-head");
  CHECK(client.reader().buffered() == 0);
}

TEST_CASE("204 and 304 responses carry no body and the next request on the connection works") {
  TestOrigin origin([](OriginExchange& ex) {
    const std::string& target = ex.request().target;
    if (target == "/no-content") {
      ex.send("HTTP/1.1 204 No Content\r\nX-Marker: 204\r\n\r\n");
    } else if (target == "/not-modified") {
      // A 304 may announce the selected representation's length; it still has no body.
      ex.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 42\r\n\r\n");
    } else {
      ex.respond(200, "after");
    }
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto no_content = client.exchange(absolute_get(origin, "/no-content"));
  CHECK(no_content.status == 204);
  CHECK(header_or_absent(no_content, "x-marker") == "204");
  auto not_modified =
      client.exchange(absolute_get(origin, "/not-modified", "If-None-Match: \"v1\"\r\n"));
  CHECK(not_modified.status == 304);
  CHECK(header_or_absent(not_modified, "etag") == "\"v1\"");
  auto after = client.exchange(absolute_get(origin, "/after"));
  CHECK(after.status == 200);
  CHECK(after.body == "after");
  CHECK(client.reader().buffered() == 0);
}

TEST_CASE("an HTTP/1.0 client gets a complete response and the connection closes") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ten-ok"); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  auto response =
      client.exchange("GET " + origin.url("/ten") + " HTTP/1.0\r\nUser-Agent: old/1.0\r\n\r\n");
  CHECK(response.status == 200);
  CHECK(response.body == "ten-ok");
  CHECK(client.wait_for_close());
  REQUIRE(origin.request_count() == 1);
  HttpRequest seen = origin.requests().front();
  CHECK(seen.version == "HTTP/1.1");  // upstream is always 1.1
  CHECK(header_or_absent(seen, "host") == origin.authority());
}

TEST_CASE(
    "an HTTP/1.0 client that asks for keep-alive keeps its connection when the length is known") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "kept" + ex.request().target); });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  for (const char* path : {"/one", "/two"}) {
    auto response =
        client.exchange("GET " + origin.url(path) + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    INFO("response head:\n" << response.head);
    CHECK(response.status == 200);
    CHECK(response.body == std::string("kept") + path);
    // An HTTP/1.0 client only keeps the connection when the answer says so.
    CHECK(header_has_token(response.headers, "connection", "keep-alive"));
  }
  CHECK(origin.request_count() == 2);
}

TEST_CASE(
    "an HTTP/1.0 client gets a chunked origin response de-chunked and the connection closes") {
  TestOrigin origin([](OriginExchange& ex) {
    ex.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    ex.send(chunked_body({"one ", "two ", "three"}));
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  // It asks for keep-alive, but the length is not known in advance: close-delimited it is.
  auto response = client.exchange("GET " + origin.url("/chunks") +
                                  " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  INFO("response head:\n" << response.head);
  CHECK(response.status == 200);
  CHECK(count_header(response.headers, "transfer-encoding") == 0);
  CHECK(response.body == "one two three");
  CHECK(client.wait_for_close());
}

TEST_CASE("three pipelined requests written at once are answered in order") {
  TestOrigin origin([](OriginExchange& ex) {
    // The first answer is the slowest: answering out of order would show.
    if (ex.request().target == "/p1") ex.pause(std::chrono::milliseconds(150));
    ex.respond(200, "answer" + ex.request().target);
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  client.send(absolute_get(origin, "/p1") + absolute_get(origin, "/p2") +
              absolute_get(origin, "/p3"));
  for (const char* path : {"/p1", "/p2", "/p3"}) {
    auto response = client.read_response();
    CHECK(response.status == 200);
    CHECK(response.body == std::string("answer") + path);
  }
}

TEST_CASE(
    "Expect: 100-continue is forwarded and the origin's 100 Continue is relayed before the final "
    "response") {
  TestOrigin origin([](OriginExchange& ex) {
    if (header_has_token(ex.request().headers, "expect", "100-continue")) {
      ex.send("HTTP/1.1 100 Continue\r\n\r\n");
    }
    ex.respond(200, "received: " + ex.body());
  });
  ProxyProcess proxy;
  ClientConnection client(proxy.port());
  client.send("POST " + origin.url("/upload") + " HTTP/1.1\r\nHost: " + origin.authority() +
              "\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
  ResponseReadOptions interim;
  interim.stop_at_interim = true;
  // The body is withheld until the 100 arrives, as a real client would (with a shorter wait).
  auto first = client.read_response(interim, deadline_in(std::chrono::seconds(10)));
  CHECK(first.status == 100);
  client.send("hello world");
  auto final_response = client.read_response();
  CHECK(final_response.status == 200);
  CHECK(final_response.body == "received: hello world");
  REQUIRE(origin.request_count() == 1);
  CHECK(header_has_token(origin.requests().front().headers, "expect", "100-continue"));
}

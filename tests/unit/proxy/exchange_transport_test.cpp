// The exchange and the client connection over fake transports: a real Server on a real loop
// (never listening), a FakeByteStream for the client and one for the origin, handed to the
// exchange through the upstream pool.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <uv.h>

#include <memory>
#include <string>

#include "fake_streams.hpp"
#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/upstream.hpp"
#include "flow/proxy/server.hpp"
#include "server_fixture.hpp"

using flow::proxy::ClientConnection;
using flow::proxy::Exchange;
using flow::proxy::HttpParser;
using flow::proxy::MessageSink;
using flow::proxy::UpstreamConnection;
using flow::proxy::testing::FakeByteStream;
using flow::proxy::testing::FakeDownstream;
using flow::proxy::testing::kOrigin;
using flow::proxy::testing::ServerFixture;

namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

using ClientFixture = flow::proxy::testing::WithClient<ServerFixture>;

std::string get(std::string_view path) {
  return "GET http://origin.test" + std::string(path) + " HTTP/1.1\r\nHost: origin.test\r\n\r\n";
}

std::string ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

// Parses a request head and stops there, as ClientConnection does before building an Exchange.
struct HeadOnly : MessageSink {
  HeadAction on_head() override { return HeadAction::pause; }
  void on_body(std::string_view) override {}
  void on_message_end() override {}
};

}  // namespace

TEST_CASE("two requests on one client connection reuse the connection and the origin's") {
  ClientFixture f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->reading());
  REQUIRE(f.client->inject_read(get("/first")));
  CHECK(f.connection->state() == ClientConnection::State::exchange);
  CHECK(contains(origin.take_written(), "GET /first HTTP/1.1\r\n"));
  REQUIRE(origin.inject_read(ok("one")));

  std::string answer = f.client->take_written();
  CHECK(contains(answer, "HTTP/1.1 200 OK\r\n"));
  CHECK(answer.ends_with("\r\n\r\none"));
  CHECK_FALSE(contains(answer, "Connection: close"));
  CHECK(f.connection->state() == ClientConnection::State::idle);
  CHECK_FALSE(f.client->shutdown_requested());
  CHECK(f.server->pool().idle_count() == 1);  // the origin connection went back to the pool

  REQUIRE(f.client->inject_read(get("/second")));
  CHECK(contains(origin.take_written(), "GET /second HTTP/1.1\r\n"));
  REQUIRE(origin.inject_read(ok("two")));
  answer = f.client->take_written();
  CHECK(answer.ends_with("\r\n\r\ntwo"));
  CHECK(f.connection->state() == ClientConnection::State::idle);
  CHECK(f.server->stats().upstream_reused == 2);
  CHECK(f.server->stats().exchanges_total == 2);
}

TEST_CASE("a pipelined request waits until the exchange before it has ended") {
  ClientFixture f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(get("/first") + get("/second")));
  std::string sent = origin.take_written();
  CHECK(contains(sent, "GET /first HTTP/1.1\r\n"));
  CHECK_FALSE(contains(sent, "/second"));
  CHECK(f.server->stats().exchanges_total == 1);

  // Ending the first exchange starts the second from the buffered bytes, on the same origin
  // connection (it was returned to the pool first).
  REQUIRE(origin.inject_read(ok("one")));
  CHECK(contains(origin.take_written(), "GET /second HTTP/1.1\r\n"));
  CHECK(f.connection->state() == ClientConnection::State::exchange);
  CHECK(f.client->take_written().ends_with("\r\n\r\none"));

  REQUIRE(origin.inject_read(ok("two")));
  CHECK(f.client->take_written().ends_with("\r\n\r\ntwo"));
  CHECK(f.connection->state() == ClientConnection::State::idle);
}

TEST_CASE("the client is not read while the origin's write queue is above its high-water mark") {
  ClientFixture f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(
      "POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 10\r\n\r\n"
      "abc"));
  CHECK(f.client->reading());
  origin.set_backlogged(true);
  REQUIRE(f.client->inject_read("def"));
  CHECK_FALSE(f.client->reading());

  origin.set_backlogged(false);  // on_drained: the exchange asks the client to be read again
  CHECK(f.client->reading());
  REQUIRE(f.client->inject_read("ghij"));
  CHECK(origin.take_written().ends_with("\r\n\r\nabcdefghij"));
  REQUIRE(origin.inject_read(ok("stored")));
  CHECK(f.client->take_written().ends_with("stored"));
}

TEST_CASE("the origin is not read while the client's write queue is above its high-water mark") {
  ClientFixture f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(get("/large")));
  f.client->set_backlogged(true);
  REQUIRE(origin.inject_read("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc"));
  CHECK_FALSE(origin.reading());

  f.client->set_backlogged(false);  // on_drained reaches the exchange through the connection
  CHECK(origin.reading());
  REQUIRE(origin.inject_read("def"));
  CHECK(f.client->take_written().ends_with("\r\n\r\nabcdef"));
  CHECK(f.connection->state() == ClientConnection::State::idle);
}

TEST_CASE("a client that half-closes after its request gets the response, then a FIN") {
  ClientFixture f;
  FakeByteStream& origin = f.pooled_origin();

  REQUIRE(f.client->inject_read(get("/last")));
  REQUIRE(f.client->inject_eof());
  CHECK(f.connection->ended());
  CHECK(f.connection->state() == ClientConnection::State::exchange);
  REQUIRE(origin.inject_read(ok("last")));
  CHECK(f.client->take_written().ends_with("\r\n\r\nlast"));
  CHECK(f.connection->state() == ClientConnection::State::closing);
  CHECK(f.client->shutdown_requested());
}

TEST_CASE("a client gone in the middle of its request body abandons the exchange and the origin") {
  ClientFixture f;
  f.pooled_origin();

  REQUIRE(f.client->inject_read(
      "POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 10\r\n\r\n"
      "abc"));
  CHECK(f.server->pool().idle_count() == 0);
  REQUIRE(f.client->inject_eof());
  CHECK(f.connection->state() == ClientConnection::State::closing);
  CHECK(f.server->pool().idle_count() == 0);  // half a request went out: never reused
  CHECK(f.server->stats().exchanges_active == 0);
  CHECK(f.client->written().empty());  // nobody to answer
}

TEST_CASE("an exchange speaks to its client only through the Downstream") {
  ServerFixture f;
  FakeByteStream& origin = f.pooled_origin();
  FakeDownstream client;

  HttpParser request(HttpParser::Kind::request, 32 * 1024);
  HeadOnly head_only;
  request.set_sink(&head_only);
  // A GET for `path`, forwarded: the exchange is started and its request complete.
  auto forwarded_get = [&](std::string_view path) {
    const std::string raw = get(path);
    REQUIRE(request.feed(raw.data(), raw.size()).status == HttpParser::Status::paused_head);
    auto exchange = std::make_unique<Exchange>(*f.server, client, request);
    exchange->start();
    exchange->on_request_end();
    return exchange;
  };

  SUBCASE("a keep-alive request ends with keep-alive") {
    auto exchange = forwarded_get("/kept");
    CHECK(contains(origin.take_written(), "GET /kept HTTP/1.1\r\n"));
    CHECK(client.reading_updates > 0);  // attaching the origin re-evaluates reading the client
    REQUIRE(origin.inject_read(ok("kept")));
    CHECK(client.written.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(client.written.ends_with("kept"));
    REQUIRE(client.ended_with.has_value());
    CHECK(*client.ended_with);
  }

  SUBCASE("a client that wishes to close is told so and the exchange ends without keep-alive") {
    client.wish.keep_alive = false;
    auto exchange = forwarded_get("/closing");
    REQUIRE(origin.inject_read(ok("bye")));
    CHECK(contains(client.written, "Connection: close\r\n"));
    REQUIRE(client.ended_with.has_value());
    CHECK_FALSE(*client.ended_with);
  }

  SUBCASE("a client that does not read makes the exchange stop reading the origin") {
    auto exchange = forwarded_get("/slow");
    client.backlogged = true;
    REQUIRE(origin.inject_read("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"));
    CHECK_FALSE(origin.reading());
    REQUIRE(client.stall_watches.size() == 1);
    CHECK(client.stall_watches.front());
    client.backlogged = false;
    exchange->on_client_drained();
    CHECK(origin.reading());
    REQUIRE(origin.inject_read("cd"));
    CHECK(client.written.ends_with("abcd"));
    CHECK(client.ended_with.value_or(false));
  }
}

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "flow/proxy/http/http_codec.hpp"

using flow::proxy::HttpParser;
using flow::proxy::MessageSink;
using flow::proxy::ParseError;

namespace {

// Records what the parser reports; the head action is configurable.
struct Recorder : MessageSink {
  HeadAction action = HeadAction::proceed;
  int heads = 0;
  int ends = 0;
  std::string body;
  HeadAction on_head() override {
    ++heads;
    return action;
  }
  void on_body(std::string_view d) override { body.append(d); }
  void on_message_end() override { ++ends; }
};

struct Fixture {
  explicit Fixture(HttpParser::Kind kind = HttpParser::Kind::request, std::size_t limit = 8192)
      : parser(kind, limit) {
    parser.set_sink(&sink);
  }
  HttpParser::Result feed(const std::string& s) { return parser.feed(s.data(), s.size()); }
  Recorder sink;
  HttpParser parser;
};

}  // namespace

TEST_CASE("a request head is parsed into method, target, version and headers") {
  Fixture f;
  auto r = f.feed("GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\n\r\n");
  CHECK(r.status == HttpParser::Status::paused_end);
  CHECK(f.parser.request().method == "GET");
  CHECK(f.parser.request().target == "http://a.example/x?y=1");
  CHECK(f.parser.request().version.at_least_1_1());
  REQUIRE(f.parser.request().headers.size() == 2);
  CHECK(f.parser.request().headers[1].name == "X-A");
  CHECK(f.parser.request().headers[1].value == "1");
  CHECK(f.parser.keep_alive());
  CHECK(f.sink.ends == 1);
}

TEST_CASE("pipelined requests stop after each message and resume at the next") {
  Fixture f;
  const std::string two =
      "GET http://a/1 HTTP/1.1\r\nHost: a\r\n\r\nGET http://a/2 HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = f.feed(two);
  REQUIRE(r.status == HttpParser::Status::paused_end);
  CHECK(f.parser.request().target == "http://a/1");
  CHECK(r.consumed == two.size() / 2);
  f.parser.resume();
  auto r2 = f.parser.feed(two.data() + r.consumed, two.size() - r.consumed);
  CHECK(r2.status == HttpParser::Status::paused_end);
  CHECK(f.parser.request().target == "http://a/2");
  CHECK(f.sink.ends == 2);
}

TEST_CASE("a head split across many reads is assembled") {
  Fixture f;
  const std::string req = "POST http://a/u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  HttpParser::Result r{HttpParser::Status::need_more, 0};
  for (char c : req) {
    r = f.parser.feed(&c, 1);
    if (r.status != HttpParser::Status::need_more) break;
  }
  CHECK(r.status == HttpParser::Status::paused_end);
  CHECK(f.sink.body == "hello");
  CHECK(f.parser.content_length() == 5u);
}

TEST_CASE("a chunked body is decoded and its trailers collected") {
  Fixture f;
  auto r = f.feed(
      "POST http://a/u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n");
  CHECK(r.status == HttpParser::Status::paused_end);
  CHECK(f.parser.chunked());
  CHECK(f.sink.body == "hello world");
  REQUIRE(f.parser.trailers().size() == 1);
  CHECK(f.parser.trailers()[0].name == "X-Checksum");
  CHECK(f.parser.trailers()[0].value == "abc");
}

TEST_CASE("a pause at the head leaves the body for later") {
  Fixture f;
  f.sink.action = MessageSink::HeadAction::pause;
  const std::string req = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nEARLY";
  auto r = f.feed(req);
  CHECK(r.status == HttpParser::Status::paused_head);
  CHECK(req.substr(r.consumed) == "EARLY");
  CHECK(f.parser.is_connect());
}

TEST_CASE("smuggling shapes are refused") {
  const char* cases[] = {
      // Content-Length and Transfer-Encoding together
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      // two different Content-Lengths
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
      // a malformed chunk size
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
      "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      // a bare LF ending a header line
      "GET http://a/ HTTP/1.1\r\nHost: a\n\r\n",
  };
  for (const char* c : cases) {
    CAPTURE(c);
    Fixture f;
    auto r = f.feed(c);
    CHECK(r.status == HttpParser::Status::error);
    CHECK(f.parser.error() == ParseError::malformed);
    CHECK(!f.parser.error_reason().empty());
  }
}

TEST_CASE("transfer codings other than a single chunked are refused") {
  const char* cases[] = {
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
  };
  for (const char* c : cases) {
    CAPTURE(c);
    Fixture f;
    auto r = f.feed(c);
    CHECK(r.status == HttpParser::Status::error);
    CHECK(f.parser.error() != ParseError::none);
  }
}

TEST_CASE("whitespace before a header colon is refused, in headers and in trailers") {
  Fixture f;
  auto r = f.feed("GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n");
  CHECK(r.status == HttpParser::Status::error);
  CHECK(f.parser.error() == ParseError::invalid_field_name);
  Fixture t;
  auto r2 = t.feed(
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nx\r\n0\r\nX-T : 1\r\n\r\n");
  CHECK(r2.status == HttpParser::Status::error);
  CHECK(t.parser.error() == ParseError::invalid_field_name);
}

TEST_CASE("two Host headers are refused") {
  Fixture f;
  auto r = f.feed("GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  CHECK(r.status == HttpParser::Status::error);
  CHECK(f.parser.error() == ParseError::conflicting_host);
}

TEST_CASE("a head over the limit is reported as too large, not malformed") {
  Fixture f(HttpParser::Kind::request, 1024);
  std::string req =
      "GET http://a/ HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n";
  auto r = f.feed(req);
  CHECK(r.status == HttpParser::Status::error);
  CHECK(f.parser.error() == ParseError::head_too_large);
}

TEST_CASE("a response to HEAD has no body even with a Content-Length") {
  Fixture f(HttpParser::Kind::response);
  f.sink.action = MessageSink::HeadAction::skip_body;
  const std::string two =
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
  auto r = f.feed(two);
  CHECK(r.status == HttpParser::Status::paused_end);
  CHECK(f.parser.response().status == 200);
  CHECK(f.sink.body.empty());
  f.parser.resume();
  auto r2 = f.parser.feed(two.data() + r.consumed, two.size() - r.consumed);
  CHECK(r2.status == HttpParser::Status::paused_end);
  CHECK(f.parser.response().status == 204);
}

TEST_CASE("a close-delimited response body ends at EOF") {
  Fixture f(HttpParser::Kind::response);
  auto r = f.feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome bytes");
  CHECK(r.status == HttpParser::Status::need_more);
  CHECK(f.parser.body_until_eof());
  auto end = f.parser.finish();
  CHECK(end.status == HttpParser::Status::paused_end);
  CHECK(f.sink.body == "some bytes");
}

TEST_CASE("EOF in the middle of a Content-Length body is an error") {
  Fixture f(HttpParser::Kind::response);
  f.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
  auto end = f.parser.finish();
  CHECK(end.status == HttpParser::Status::error);
}

TEST_CASE("an HTTP/1.0 request without keep-alive is not kept alive") {
  Fixture f;
  f.feed("GET http://a/ HTTP/1.0\r\n\r\n");
  CHECK_FALSE(f.parser.keep_alive());
  CHECK_FALSE(f.parser.request().version.at_least_1_1());
}

TEST_CASE("field values lose their optional whitespace (RFC 9110 5.5), in headers and trailers") {
  SUBCASE("request headers: trailing spaces and tabs, leading tabs") {
    Fixture f;
    auto r = f.feed(
        "GET http://a/ HTTP/1.1\r\nHost: a \r\nIdempotency-Key: k \r\nX-Tab: k\t\r\n"
        "X-Both:\t \tk k\t \r\nX-Empty: \t \r\n\r\n");
    REQUIRE(r.status == HttpParser::Status::paused_end);
    const auto& h = f.parser.request().headers;
    REQUIRE(h.size() == 5);
    CHECK(h[0].value == "a");
    CHECK(h[1].value == "k");
    CHECK(h[2].value == "k");
    CHECK(h[3].value == "k k");  // inner whitespace is part of the value
    CHECK(h[4].value.empty());
  }
  SUBCASE("a value split across reads is trimmed once it is whole") {
    Fixture f;
    const std::string req = "GET http://a/ HTTP/1.1\r\nHost: a\r\nIdempotency-Key:  k  \t \r\n\r\n";
    HttpParser::Result r{HttpParser::Status::need_more, 0};
    for (char c : req) {
      r = f.parser.feed(&c, 1);
      if (r.status != HttpParser::Status::need_more) break;
    }
    REQUIRE(r.status == HttpParser::Status::paused_end);
    CHECK(f.parser.request().headers[1].value == "k");
  }
  SUBCASE("response headers") {
    Fixture f(HttpParser::Kind::response);
    auto r = f.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nPAYMENT-RESPONSE: abc\t\r\n\r\n");
    REQUIRE(r.status == HttpParser::Status::paused_end);
    CHECK(f.parser.response().headers[1].value == "abc");
  }
  SUBCASE("trailers") {
    Fixture f;
    auto r = f.feed(
        "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1\r\nx\r\n0\r\nX-Sum: 42 \t\r\n\r\n");
    REQUIRE(r.status == HttpParser::Status::paused_end);
    REQUIRE(f.parser.trailers().size() == 1);
    CHECK(f.parser.trailers()[0].value == "42");
  }
}

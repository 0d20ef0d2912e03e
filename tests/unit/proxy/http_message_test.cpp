#include <doctest/doctest.h>

#include "flow/proxy/http/http_message.hpp"
#include "flow/proxy/http/proxy_answer.hpp"
#include "flow/proxy/http/proxy_error.hpp"

using namespace flow::proxy;

TEST_CASE("hop-by-hop headers and the ones Connection names are removed") {
  HeaderList h{{"Host", "a"},
               {"Connection", "keep-alive, X-Secret"},
               {"X-Secret", "s"},
               {"Keep-Alive", "timeout=5"},
               {"Proxy-Connection", "keep-alive"},
               {"TE", "trailers"},
               {"Trailer", "X-T"},
               {"Upgrade", "websocket"},
               {"Proxy-Authorization", "Basic eA=="},
               {"Accept", "*/*"},
               {"Content-Length", "3"},
               {"Transfer-Encoding", "chunked"}};
  strip_hop_by_hop(h);
  REQUIRE(h.size() == 2);
  CHECK(h[0].name == "Host");
  CHECK(h[1].name == "Accept");
}

TEST_CASE("Via is appended to an existing list or added") {
  HeaderList h{{"via", "1.1 other"}};
  append_via(h, {1, 1});
  CHECK(h[0].value == "1.1 other, 1.1 402flow");
  HeaderList empty;
  append_via(empty, {1, 0});
  CHECK(empty[0].name == "Via");
  CHECK(empty[0].value == "1.0 402flow");
}

TEST_CASE("header lookups ignore case and token lists are split") {
  HeaderList h{{"EXPECT", "100-Continue"}, {"connection", "close"}};
  CHECK(find_header(h, "expect") != nullptr);
  CHECK(header_has_token(h, "Expect", "100-continue"));
  CHECK_FALSE(header_has_token(h, "Connection", "keep-alive"));
}

TEST_CASE("a proxy error answer is complete HTTP with a JSON body naming the code") {
  const std::string r =
      error_response(flow::payment::Reason::upstream_timeout, "slow \"origin\"", true);
  CHECK(r.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
  CHECK(r.find("X-402flow-Error: upstream_timeout\r\n") != std::string::npos);
  CHECK(r.find("Connection: close\r\n") != std::string::npos);
  const auto body = r.substr(r.find("\r\n\r\n") + 4);
  CHECK(body == "{\"error\":\"upstream_timeout\",\"message\":\"slow \\\"origin\\\"\"}\n");
  CHECK(r.find("Content-Length: " + std::to_string(body.size())) != std::string::npos);
}

TEST_CASE("an answer the proxy writes states the connection's fate as the writer decides it") {
  flow::proxy::ProxyAnswer a;
  a.status = 403;
  a.headers = {{"X-402flow-Error", "merchant_not_allowed"}};
  a.body = "{}";
  using flow::proxy::Persistence;
  const std::string closing = flow::proxy::serialize_answer(a, Persistence::close);
  CHECK(closing.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
  CHECK(closing.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(closing.find("Connection: close\r\n") != std::string::npos);
  CHECK(closing.substr(closing.size() - 6) == "\r\n\r\n{}");
  const std::string kept = flow::proxy::serialize_answer(a, Persistence::keep_alive);
  CHECK(kept.find("Connection:") == std::string::npos);
  const std::string kept10 = flow::proxy::serialize_answer(a, Persistence::keep_alive_http10);
  CHECK(kept10.find("Connection: keep-alive\r\n") != std::string::npos);
  a.phrase = "Payment Required Here";
  a.status = 402;
  CHECK(flow::proxy::serialize_answer(a, Persistence::close)
            .rfind("HTTP/1.1 402 Payment Required Here\r\n", 0) == 0);
}

// Assertions and request builders shared by the integration tests.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "support/http_wire.hpp"
#include "support/test_origin.hpp"

namespace flow::testing {

// "GET http://127.0.0.1:<origin>/path HTTP/1.1" with a matching Host header.
inline std::string absolute_get(const TestOrigin& origin, std::string_view path,
                                std::string_view extra_headers = "") {
  return "GET " + origin.url(path) + " HTTP/1.1\r\nHost: " + origin.authority() + "\r\n" +
         std::string(extra_headers) + "\r\n";
}

inline std::string header_or_absent(const HttpResponse& response, std::string_view name) {
  return response.header(name).value_or("<absent>");
}

inline std::string header_or_absent(const HttpRequest& request, std::string_view name) {
  return request.header(name).value_or("<absent>");
}

// An answer the proxy generated itself: the status, JSON content type, X-402flow-Error, a
// Content-Length framed body {"error": code, "message": "..."}.
inline void check_proxy_error(const HttpResponse& response, int status, std::string_view code) {
  INFO("response head:\n" << response.head << "body: " << response.body);
  CHECK(response.status == status);
  CHECK(header_or_absent(response, "content-type").rfind("application/json", 0) == 0);
  CHECK(header_or_absent(response, "x-402flow-error") == code);
  CHECK(response.framing == BodyFraming::content_length);
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  REQUIRE(body.is_object());
  CHECK(body.value("error", std::string("<absent>")) == code);
  REQUIRE(body.contains("message"));
  CHECK(body["message"].is_string());
  CHECK_FALSE(body["message"].get<std::string>().empty());
}

// A problem+json answer the proxy wrote: its content type, its code matching X-402flow-Error
// and its status matching the status line. Returns the body.
inline nlohmann::json problem_of(const HttpResponse& r) {
  INFO("response head:\n" << r.head << "body: " << r.body);
  CHECK(header_or_absent(r, "content-type") == "application/problem+json");
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body.value("code", "") == header_or_absent(r, "x-402flow-error"));
  CHECK(body.value("status", 0) == r.status);
  return body;
}

}  // namespace flow::testing

#include <doctest/doctest.h>

#include "flow/proxy/http/target.hpp"

using namespace flow::proxy;

TEST_CASE("absolute-form targets are split into host, port and origin-form path") {
  auto t = parse_absolute_target("http://Example.COM:8080/a/b?q=1");
  REQUIRE(t);
  CHECK(t->host == "example.com");
  CHECK(t->port == 8080);
  CHECK(t->path == "/a/b?q=1");
  CHECK(t->authority() == "example.com:8080");
  CHECK(t->host_header() == "example.com:8080");

  auto d = parse_absolute_target("http://example.com?x");
  REQUIRE(d);
  CHECK(d->port == 80);
  CHECK(d->path == "/?x");
  CHECK(d->host_header() == "example.com");

  auto v6 = parse_absolute_target("http://[::1]:9000/");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->authority() == "[::1]:9000");
}

TEST_CASE("targets that cannot be forwarded safely are refused") {
  CHECK_FALSE(parse_absolute_target("/relative"));
  CHECK_FALSE(parse_absolute_target("ftp://a/"));
  CHECK_FALSE(parse_absolute_target("http://user:pw@a/"));
  CHECK_FALSE(parse_absolute_target("http://a:99999/"));
  CHECK_FALSE(parse_absolute_target("http://a b/"));
  CHECK_FALSE(parse_absolute_target("http:///x"));
  CHECK_FALSE(parse_absolute_target("http://a/#frag"));
}

TEST_CASE("CONNECT authorities need a host and a non-zero port") {
  auto t = parse_authority("api.example:443");
  REQUIRE(t);
  CHECK(t->port == 443);
  CHECK_FALSE(parse_authority("api.example"));
  CHECK_FALSE(parse_authority("api.example:0"));
  CHECK_FALSE(parse_authority(":443"));
  auto v6 = parse_authority("[2001:db8::1]:8443");
  REQUIRE(v6);
  CHECK(v6->host == "2001:db8::1");
}

TEST_CASE("a Host header names a host, with port 80 when it has none") {
  auto t = parse_host_header("API.Example");
  REQUIRE(t);
  CHECK(t->host == "api.example");
  CHECK(t->port == 80);
  auto with_port = parse_host_header("198.51.100.8:8080");
  REQUIRE(with_port);
  CHECK(with_port->port == 8080);
  auto v6 = parse_host_header("[2001:db8::8]");
  REQUIRE(v6);
  CHECK(v6->host == "2001:db8::8");
  CHECK_FALSE(parse_host_header(""));
  CHECK_FALSE(parse_host_header("a b"));
}

TEST_CASE("a target with an address is pooled apart from the same name elsewhere") {
  Target named;
  named.scheme = "https";
  named.host = "api.example";
  named.port = 443;
  Target pinned = named;
  pinned.address = "198.51.100.7";
  CHECK(named.pool_key() == "https://api.example:443");
  CHECK(pinned.pool_key() == "https://api.example:443@198.51.100.7");
  CHECK(pinned.origin_key() == named.pool_key());
}

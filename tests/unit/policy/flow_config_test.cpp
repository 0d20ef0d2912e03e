#include <doctest/doctest.h>

#include <string>

#include "flow/policy/flow_config.hpp"

using flow::policy::ConfigError;
using flow::policy::parse_flow_config;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    parse_flow_config(yaml, "flow.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("an empty file gives the safe defaults") {
  const auto c = parse_flow_config("", "flow.yaml");
  CHECK(c.proxy.listen == "127.0.0.1:8402");
  REQUIRE(c.proxy.connect_ports.size() == 1);
  CHECK(c.proxy.connect_ports[0] == 443);
}

TEST_CASE("the proxy section sets listener, ports, limits and timeouts") {
  const auto c = parse_flow_config(
      "version: 1\nproxy:\n  listen: 127.0.0.1:9000\n  connect_ports: [443, 8443]\n"
      "  max_connections: 10\n  timeouts:\n    header: 500ms\n    drain: 2s\n",
      "flow.yaml");
  CHECK(c.proxy.listen == "127.0.0.1:9000");
  CHECK(c.proxy.connect_ports == std::vector<std::uint16_t>{443, 8443});
  CHECK(c.proxy.max_connections == 10);
  CHECK(c.proxy.timeouts.header.count() == 500);
  CHECK(c.proxy.timeouts.drain.count() == 2000);
}

TEST_CASE("errors name the file, line and column and what was expected") {
  CHECK(error_of("proxy:\n  conect_ports: [443]\n") ==
        "flow.yaml:2:3: unknown key 'conect_ports' in proxy (expected one of: listen, "
        "connect_ports, max_connections, max_header_bytes, write_high_water, "
        "pool_max_idle_per_origin, timeouts, access_log, log_level)");
  CHECK(error_of("proxy:\n  connect_ports: [443, 70000]\n").rfind("flow.yaml:2:24: ", 0) == 0);
  CHECK(error_of("proxy:\n  timeouts:\n    idle: 5 parsecs\n") ==
        "flow.yaml:3:11: proxy.timeouts.idle must be a positive duration such as 500ms, 10s, 2m, "
        "got '5 parsecs'");
  CHECK(error_of("proxy: [1, 2]\n") == "flow.yaml:1:8: proxy must be a mapping");
  CHECK(error_of("proxy:\n  listen: [a\n").rfind("flow.yaml:", 0) == 0);
  CHECK(error_of("agent: []\n").find("unknown key 'agent'") != std::string::npos);
}

// Policy hot reload in the real binary: SIGHUP, a watched file, and a ConfigMap-style `..data`
// symlink swap. A file that fails validation is logged and the policy in force stays.
#include <doctest/doctest.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "support/client_connection.hpp"
#include "support/proxy_process.hpp"
#include "support/socket_io.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

using namespace flow::testing;
namespace fs = std::filesystem;

namespace {

const char* kPolicyA =
    "version: 1\norganization:\n  posture: block\n  caps:\n    per_request: [1 USDC]\n";
const char* kPolicyB =
    "version: 1\norganization:\n  posture: allow\n  caps:\n    per_request: [2 USDC]\n";
const char* kBroken = "version: 1\norganization:\n  posture: sometimes\n";

// A shared proxy: one agent, proving itself with the token "tok-reload".
const char* kShared =
    "version: 1\n"
    "proxy:\n  identity: shared\n"
    "agents:\n  - id: bot\n    token_sha256: "
    "[974bafcdc008121b34e7b2c5d9d30493e5061ac0edf0434214191b24ab2b1542]\n"
    "merchants:\n  - host: shop.example\n    action: deny\n";
const char* kBotAuth = "Proxy-Authorization: Basic Ym90OnRvay1yZWxvYWQ=\r\n";

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  fs::rename(tmp, path);
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Polls the proxy's stderr until `needle` appears `times` times.
bool wait_for_log(const ProxyProcess& proxy, const std::string& needle, std::size_t times) {
  const Deadline deadline = default_deadline();
  while (Clock::now() < deadline) {
    if (count_of(proxy.stderr_text(), needle) >= times) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The proxy still answers: an origin-form request gets its 400.
void check_still_serving(const ProxyProcess& proxy) {
  ClientConnection client(proxy.port());
  const auto response = client.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(response.status == 400);
}

// The agent's request through the shared proxy reaches the origin (200), not a 407.
int agent_status(const ProxyProcess& proxy, const TestOrigin& origin) {
  ClientConnection client(proxy.port());
  const auto response =
      client.exchange("GET " + origin.url("/free") + " HTTP/1.1\r\nHost: " + origin.authority() +
                      "\r\n" + kBotAuth + "Connection: close\r\n\r\n");
  return response.status;
}

// Truncates the file in place, as `: > flow.yaml` does (no rename: the same inode, now empty).
void truncate_in_place(const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
}

}  // namespace

TEST_CASE("SIGHUP reloads a valid policy and keeps the old one when the new file is invalid") {
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kPolicyA);
  ProxyProcess proxy({"-c", path});

  write_file(path, kBroken);
  proxy.send_signal(SIGHUP);
  REQUIRE(wait_for_log(proxy, "policy reload rejected", 1));
  const std::string log = proxy.stderr_text();
  CHECK(log.find("flow.yaml:3:12") != std::string::npos);  // the bad value's line and column
  CHECK(log.find("\"policy reloaded\"") == std::string::npos);
  check_still_serving(proxy);

  write_file(path, kPolicyB);
  proxy.send_signal(SIGHUP);
  REQUIRE(wait_for_log(proxy, "\"msg\":\"policy reloaded\"", 1));
  CHECK(proxy.stderr_text().find("\"generation\":2") != std::string::npos);
  check_still_serving(proxy);
}

TEST_CASE("a change to the watched file reloads the policy without a signal") {
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kPolicyA);
  ProxyProcess proxy({"-c", path});
  write_file(path, kPolicyB);
  REQUIRE(wait_for_log(proxy, "\"msg\":\"policy reloaded\"", 1));
  CHECK(proxy.stderr_text().find("\"trigger\":\"file change\"") != std::string::npos);
}

TEST_CASE("a ConfigMap update that swaps the ..data symlink reloads the policy") {
  // The layout kubelet makes: flow.yaml -> ..data/flow.yaml, ..data -> ..<timestamp>/.
  TempDir dir;
  fs::create_directory(dir.file("..v1"));
  write_file(dir.file("..v1/flow.yaml"), kPolicyA);
  fs::create_directory_symlink("..v1", dir.file("..data"));
  fs::create_symlink("..data/flow.yaml", dir.file("flow.yaml"));
  ProxyProcess proxy({"-c", dir.file("flow.yaml")});

  fs::create_directory(dir.file("..v2"));
  write_file(dir.file("..v2/flow.yaml"), kBroken);
  fs::create_directory_symlink("..v2", dir.file("..data_tmp"));
  fs::rename(dir.file("..data_tmp"), dir.file("..data"));  // the atomic swap kubelet does
  REQUIRE(wait_for_log(proxy, "policy reload rejected", 1));

  fs::create_directory(dir.file("..v3"));
  write_file(dir.file("..v3/flow.yaml"), kPolicyB);
  fs::create_directory_symlink("..v3", dir.file("..data_tmp"));
  fs::rename(dir.file("..data_tmp"), dir.file("..data"));
  REQUIRE(wait_for_log(proxy, "\"msg\":\"policy reloaded\"", 1));
  check_still_serving(proxy);
}

TEST_CASE("a policy file that fails validation at start-up stops the proxy with its location") {
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kBroken);
  CHECK_THROWS_WITH_AS(ProxyProcess({"-c", path}), doctest::Contains("flow.yaml:3:12"),
                       std::exception);
}

TEST_CASE("a file truncated on a running proxy is rejected and every agent is still served") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kShared);
  ProxyProcess proxy({"-c", path});
  REQUIRE(agent_status(proxy, origin) == 200);

  truncate_in_place(path);  // : > flow.yaml
  REQUIRE(wait_for_log(proxy, "policy reload rejected", 1));
  const std::string log = proxy.stderr_text();
  CHECK(log.find("the file is empty or has no `version: 1` line") != std::string::npos);
  CHECK(log.find("\"policy reloaded\"") == std::string::npos);
  // Before: "policy reloaded", and every agent got 407 (the empty file has no agents).
  CHECK(agent_status(proxy, origin) == 200);
}

TEST_CASE("a reload that would drop every agent is refused with its reason") {
  TestOrigin origin([](OriginExchange& ex) { ex.respond(200, "ok"); });
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kShared);
  ProxyProcess proxy({"-c", path});

  // A half-written save: valid YAML, the version line, and nothing else yet.
  write_file(path, "version: 1\nproxy:\n  identity: shared\n");
  REQUIRE(wait_for_log(proxy, "policy reload refused", 1));
  const std::string log = proxy.stderr_text();
  CHECK(log.find("the new file has no agents (the running configuration has 1)") !=
        std::string::npos);
  CHECK(log.find("\"policy reloaded\"") == std::string::npos);
  CHECK(agent_status(proxy, origin) == 200);

  // The same file with its agent back is a normal reload.
  write_file(path, std::string(kShared) + "  - host: other.example\n    action: deny\n");
  REQUIRE(wait_for_log(proxy, "\"msg\":\"policy reloaded\"", 1));
  CHECK(agent_status(proxy, origin) == 200);
}

TEST_CASE("a reload logs the proxy keys it did not apply") {
  TempDir dir;
  const std::string path = dir.file("flow.yaml");
  write_file(path, kPolicyA);
  ProxyProcess proxy({"-c", path});
  write_file(path, std::string(kPolicyB) +
                       "proxy:\n  listen: 127.0.0.1:9999\n  timeouts:\n    idle: 5s\n");
  REQUIRE(wait_for_log(proxy, "\"msg\":\"policy reloaded\"", 1));
  REQUIRE(wait_for_log(proxy, "need a restart were not applied", 1));
  const std::string log = proxy.stderr_text();
  CHECK(log.find("\"keys\":[\"proxy.listen\",\"proxy.timeouts.idle\"]") != std::string::npos);
  check_still_serving(proxy);  // still on the port it started with
}

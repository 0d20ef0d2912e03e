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

using namespace flow::testing;
namespace fs = std::filesystem;

namespace {

const char* kPolicyA = "organization:\n  posture: block\n  caps:\n    per_request: [1 USDC]\n";
const char* kPolicyB = "organization:\n  posture: allow\n  caps:\n    per_request: [2 USDC]\n";
const char* kBroken = "organization:\n  posture: sometimes\n";

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
  CHECK(log.find("flow.yaml:2:12") != std::string::npos);  // the bad value's line and column
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
  CHECK_THROWS_WITH_AS(ProxyProcess({"-c", path}), doctest::Contains("flow.yaml:2:12"),
                       std::exception);
}

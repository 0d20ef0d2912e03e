// `402flow check` and `402flow run` share one start-up check: a file run refuses, check refuses
// with the same message, and run writes nothing (no ledger, no access log) before it passes.
// Paths in flow.yaml are relative to its folder, and the ledger's files are owner-only.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;
namespace fs = std::filesystem;

namespace {

std::string make_key(const std::string& path) {
  const auto made = run_command({flow_binary(), "keygen", "--out", path}, std::chrono::seconds(10));
  REQUIRE(made.status.code == 0);
  return path;
}

// A flow.yaml in `dir` with a wallet, a ledger and an access log beside it, plus `proxy_extra`.
std::string config_with(const TempDir& dir, const std::string& proxy, const std::string& key) {
  const std::string path = dir.file("flow.yaml");
  write_text_file(path, "version: 1\nproxy:\n" + proxy +
                            "  access_log: access.jsonl\n"
                            "ledger:\n  path: ledger.db\n"
                            "wallets:\n  - name: main\n    key_file: " +
                            key + "\nagents:\n  - id: bot\n");
  return path;
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

int mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

}  // namespace

TEST_CASE("check refuses what run refuses, with the same message, and run writes nothing") {
  TempDir dir;
  make_key(dir.file("wallet.key"));
  struct Bad {
    const char* name;
    std::string proxy;
    std::string key;
    const char* message;
  };
  const Bad cases[] = {
      {"a port out of range", "  listen: 127.0.0.1:99999\n  agent: bot\n", "wallet.key",
       "invalid listen address '127.0.0.1:99999'"},
      {"a sidecar on every interface", "  listen: 0.0.0.0:0\n  agent: bot\n", "wallet.key",
       "refusing to listen on 0.0.0.0:0"},
      {"a missing key file", "  listen: 127.0.0.1:0\n  agent: bot\n", "no-such.key",
       "wallet 'main'"},
  };
  for (const Bad& bad : cases) {
    CAPTURE(bad.name);
    const std::string path = config_with(dir, bad.proxy, bad.key);
    const auto checked = run_command({flow_binary(), "check", path}, std::chrono::seconds(10));
    const auto ran = run_command({flow_binary(), "run", "-c", path}, std::chrono::seconds(10));
    CHECK(checked.status.exited);
    CHECK(checked.status.code != 0);
    CHECK(ran.status.code != 0);
    CHECK(checked.err.find(bad.message) != std::string::npos);
    CHECK(first_line(checked.err) == first_line(ran.err));
    CHECK(checked.status.code == ran.status.code);
    // Before: run created the ledger (and its lock) before refusing.
    CHECK_FALSE(fs::exists(dir.file("ledger.db")));
    CHECK_FALSE(fs::exists(dir.file("ledger.db-lock")));
    CHECK_FALSE(fs::exists(dir.file("access.jsonl")));
  }
}

TEST_CASE("check does not list Lightning as payable") {
  TempDir dir;
  make_key(dir.file("wallet.key"));
  const std::string path = dir.file("flow.yaml");
  write_text_file(path,
                  "version: 1\nwallets:\n  - name: main\n    key_file: wallet.key\n"
                  "organization:\n  networks: [eip155:8453, lightning]\n"
                  "  caps:\n    per_request: [1 USDC, 50000 msat]\n");
  const auto checked = run_command({flow_binary(), "check", path}, std::chrono::seconds(10));
  REQUIRE(checked.status.code == 0);
  CHECK(checked.out.find("up to 50000 msat: not payable (no Lightning rail in this build)") !=
        std::string::npos);
}

TEST_CASE("paths in flow.yaml are relative to its folder, and the ledger is owner-only") {
  TempDir config_dir;
  TempDir cwd;
  make_key(config_dir.file("wallet.key"));
  const std::string path = config_with(config_dir, "  agent: bot\n", "wallet.key");
  const std::string port_file = cwd.file("port");
  ChildProcess proxy({"/bin/sh", "-c",
                      "cd '" + cwd.path() + "' && exec '" + flow_binary() + "' run -c '" + path +
                          "' --listen 127.0.0.1:0 --port-file '" + port_file + "'"},
                     SpawnOptions{});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!fs::exists(port_file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(fs::exists(port_file));
  // Before: the access log was created in the working directory.
  CHECK(fs::exists(config_dir.file("access.jsonl")));
  CHECK_FALSE(fs::exists(cwd.file("access.jsonl")));
  REQUIRE(fs::exists(config_dir.file("ledger.db")));
  CHECK_FALSE(fs::exists(cwd.file("ledger.db")));
  // Before: 0644. The ledger holds payment history.
  for (const char* suffix : {"", "-wal", "-shm", "-lock"}) {
    const std::string file = config_dir.file(std::string("ledger.db") + suffix);
    if (!fs::exists(file)) continue;
    CAPTURE(file);
    CHECK(mode_of(file) == 0600);
  }
  proxy.send_signal(SIGTERM);
  REQUIRE(proxy.wait_exit(std::chrono::seconds(15)).has_value());
}

namespace {

// `402flow check [--json] <file>` on `yaml` (with a wallet key beside it, for `wallet.key`).
CommandResult check_yaml(const TempDir& dir, const std::string& yaml, bool json = false) {
  if (!fs::exists(dir.file("wallet.key"))) make_key(dir.file("wallet.key"));
  const std::string path = dir.file("flow.yaml");
  write_text_file(path, yaml);
  std::vector<std::string> argv = {flow_binary(), "check"};
  if (json) argv.push_back("--json");
  argv.push_back(path);
  return run_command(argv, std::chrono::seconds(10));
}

const char* const kWallet = "wallets:\n  - name: main\n    key_file: wallet.key\n";

}  // namespace

TEST_CASE("check warns about a sidecar agent not under agents, and still exits 0") {
  TempDir dir;
  const auto checked = check_yaml(dir, std::string("version: 1\nproxy:\n  agent: robot\n") +
                                           kWallet + "agents:\n  - id: bot\n");
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 0);
  CHECK(checked.out.find("\nWarnings (1)\n  ! the sidecar agent 'robot' is not listed under "
                         "agents: every payment is refused (unknown_agent) "
                         "[sidecar_agent_not_listed]\n") != std::string::npos);
}

TEST_CASE("check warns about a review rule no payment can meet") {
  TempDir dir;
  const auto checked = check_yaml(dir, std::string("version: 1\nproxy:\n  agent: bot\n") + kWallet +
                                           "organization:\n  caps:\n    per_request: 1 USDC\n"
                                           "review:\n  amount_over: 2 USDC\n"
                                           "agents:\n  - id: bot\n");
  INFO(checked.out << checked.err);
  CHECK(checked.status.code == 0);
  CHECK(checked.out.find("review.amount_over 2 USDC can never be met: the organization's caps "
                         "stop every payment in USDC at or below it [review_never_met]") !=
        std::string::npos);
}

TEST_CASE("check refuses an empty file with a clear error; a bare `version: 1` is warned about") {
  TempDir dir;
  const auto empty = check_yaml(dir, "");
  CHECK(empty.status.code == 1);
  CHECK(empty.out.empty());
  CHECK(empty.err.find("the file is empty or has no `version: 1` line") != std::string::npos);

  const auto bare = check_yaml(dir, "version: 1\n");
  INFO(bare.out << bare.err);
  CHECK(bare.status.code == 0);
  CHECK(bare.out.find("no agents are listed: every payment is refused (unknown_agent)") !=
        std::string::npos);
}

TEST_CASE("check --json prints one object: summary, decisions, warnings and errors") {
  TempDir dir;
  const auto checked =
      check_yaml(dir,
                 std::string("version: 1\nproxy:\n  agent: robot\n") + kWallet +
                     "organization:\n  caps:\n    per_request: 1 USDC\n"
                     "agents:\n  - id: bot\n  - id: off\n    action: deny\n"
                     "merchants:\n  - name: shop\n    host: shop.example\n    action: allow\n",
                 true);
  INFO(checked.out << checked.err);
  REQUIRE(checked.status.code == 0);
  const auto j = nlohmann::json::parse(checked.out);
  CHECK(j["valid"] == true);
  CHECK(j["file"] == dir.file("flow.yaml"));
  CHECK(j["errors"].empty());
  REQUIRE(j["warnings"].size() == 1);
  CHECK(j["warnings"][0]["code"] == "sidecar_agent_not_listed");
  CHECK(j["warnings"][0]["rule"] == "proxy.agent");
  CHECK(j["summary"][0]["section"] == "Proxy");
  CHECK(j["decisions"]["posture"] == "block");
  REQUIRE(j["decisions"]["agents"].size() == 2);
  CHECK(j["decisions"]["agents"][1]["action"] == "deny");
  CHECK(j["decisions"]["merchants"][0]["host"] == "shop.example");
  // The text form says the same.
  const auto text = check_yaml(dir, read_file(dir.file("flow.yaml")));
  CHECK(text.out.find("DENIED: every payment is refused (agent_denied") != std::string::npos);

  // A file that fails: the same object shape, the same exit codes as the text form.
  const auto bad = check_yaml(dir, "version: 1\nagents: 3\n", true);
  CHECK(bad.status.code == 1);
  const auto e = nlohmann::json::parse(bad.out);
  CHECK(e["valid"] == false);
  REQUIRE(e["errors"].size() == 1);
  CHECK(e["errors"][0].get<std::string>().find("flow.yaml:2") != std::string::npos);
  const auto refused = check_yaml(dir, "version: 1\nproxy:\n  listen: 10.0.0.1:8402\n", true);
  CHECK(refused.status.code == 2);
  CHECK(nlohmann::json::parse(refused.out)["errors"][0].get<std::string>().find(
            "non-loopback listener") != std::string::npos);
}

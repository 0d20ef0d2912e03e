// `402flow demo` in the real binary: whatever flow.yaml and key the working directory holds, the
// demo pays with its own throwaway key under its own policy, and finishes in a few seconds.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/proxy_process.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The value after `label` on its line of `text` ("  wallet:   0xABC (a throwaway..." -> "0xABC").
std::string field_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return {};
  auto start = text.find_first_not_of(' ', at + label.size());
  const auto end = text.find_first_of(" \n", start);
  return text.substr(start, end - start);
}

// An operator's key made with `402flow keygen`; returns its address.
std::string make_operator_key(const std::string& path) {
  const auto made = run_command({flow_binary(), "keygen", "--out", path}, std::chrono::seconds(10));
  REQUIRE(made.status.exited);
  REQUIRE(made.status.code == 0);
  return field_after(made.out, "address:");
}

struct DemoRun {
  CommandResult result;
  std::chrono::milliseconds took{};
  std::string wallet;  // the address the demo printed as its throwaway wallet
  std::string ledger;
};

// Runs `402flow demo --keep <args>` with `cwd` as its working directory.
DemoRun run_demo_in(const std::string& cwd, const std::string& args = "") {
  DemoRun run;
  const auto start = std::chrono::steady_clock::now();
  run.result = run_command(
      {"/bin/sh", "-c", "cd '" + cwd + "' && exec '" + flow_binary() + "' demo --keep " + args},
      std::chrono::seconds(120));
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  run.wallet = field_after(run.result.out, "wallet:");
  run.ledger = field_after(run.result.out, "ledger:");
  return run;
}

// The payer of every receipt in the demo's ledger.
std::vector<std::string> receipt_payers(const std::string& ledger) {
  const auto listed =
      run_command({flow_binary(), "receipts", "--db", ledger, "--json"}, std::chrono::seconds(10));
  REQUIRE(listed.status.code == 0);
  std::vector<std::string> payers;
  for (const auto& r : nlohmann::json::parse(listed.out)) {
    payers.push_back(lower(r.at("payer").get<std::string>()));
  }
  return payers;
}

// The demo's temporary directory (kept with --keep) goes with the test.
struct DemoDirCleanup {
  std::string ledger;
  ~DemoDirCleanup() {
    if (ledger.rfind("/tmp/402flow-demo-", 0) == 0) fs::remove_all(fs::path(ledger).parent_path());
  }
};

void check_paid_with_throwaway(const DemoRun& run, const std::string& operator_address) {
  INFO("demo stdout:\n" << run.result.out << "\nstderr:\n" << run.result.err);
  REQUIRE(run.result.status.exited);
  CHECK(run.result.status.code == 0);
  REQUIRE(run.wallet.rfind("0x", 0) == 0);
  CHECK(lower(run.wallet) != lower(operator_address));
  const auto payers = receipt_payers(run.ledger);
  // The allowed payment, the executed prepared one, and the same payment over HTTPS.
  CHECK(payers.size() == 3);
  CHECK(run.result.out.find("== 4. the same payment over HTTPS") != std::string::npos);
  for (const auto& payer : payers) {
    CHECK(payer == lower(run.wallet));
    CHECK(payer != lower(operator_address));
  }
  // Before: ~20 s after each of the first two steps (the answers were read to EOF).
  CHECK(run.took < std::chrono::seconds(15));
}

}  // namespace

TEST_CASE("the demo ignores a shared-mode flow.yaml and its wallet in the working directory") {
  TempDir cwd;
  const std::string operator_address = make_operator_key(cwd.file("operator.key"));
  write_text_file(cwd.file("flow.yaml"),
                  "version: 1\n"
                  "proxy:\n  identity: shared\n"
                  "wallets:\n  - name: operator\n    key_file: operator.key\n"
                  "agents:\n  - id: someone\n    token_sha256: "
                  "[75648b231af668b363608a5c3ed68a061de2d098bc4e185e41eb0d13dd1c98c5]\n");
  const DemoRun run = run_demo_in(cwd.path());
  DemoDirCleanup cleanup{run.ledger};
  check_paid_with_throwaway(run, operator_address);
}

TEST_CASE("the demo never signs with the operator's key, even from a file that would pay it") {
  // A sidecar file that allows the local merchant: the old demo ran it as is and every receipt
  // named the operator's wallet.
  TempDir cwd;
  const std::string operator_address = make_operator_key(cwd.file("operator.key"));
  const std::string policy =
      "version: 1\n"
      "proxy:\n  identity: sidecar\n  agent: research-bot\n"
      "wallets:\n  - name: operator\n    key_file: operator.key\n"
      "organization:\n  caps:\n    per_request: [1 USDC]\n"
      "agents:\n  - id: research-bot\n"
      "merchants:\n  - host: 127.0.0.1\n    action: allow\n    caps:\n      per_request: 0.05 "
      "USDC\n";
  write_text_file(cwd.file("flow.yaml"), policy);

  SUBCASE("found in the working directory") {
    const DemoRun run = run_demo_in(cwd.path());
    DemoDirCleanup cleanup{run.ledger};
    check_paid_with_throwaway(run, operator_address);
  }
  SUBCASE("given with -c: its policy is used, its wallet is not") {
    const DemoRun run = run_demo_in(cwd.path(), "-c flow.yaml");
    DemoDirCleanup cleanup{run.ledger};
    check_paid_with_throwaway(run, operator_address);
    CHECK(run.result.out.find("its payment sections only") != std::string::npos);
  }
}

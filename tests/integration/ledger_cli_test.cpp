// The ledger commands as an operator reads them (`402flow receipts`, `spend`) on a real ledger
// written by a real proxy paying a real merchant, and the usage errors of every command.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"
#include "support/proxy_process.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr std::chrono::seconds kTimeout{20};

// The default policy plus a daily budget of 50 USDC and a weekly count of 10 payments.
PaidProxyOptions budgeted() {
  PaidProxyOptions o;
  std::string p = default_policy();
  const std::string caps = "    per_request: [1 USDC]\n";
  p.replace(p.find(caps), caps.size(),
            caps +
                "    budgets:\n      - amount: 50 USDC\n        per: day\n"
                "      - payments: 10\n        per: week\n");
  o.policy = p;
  return o;
}

struct Paid {
  MerchantProcess merchant;
  PaidProxy proxy{budgeted()};
  Paid() {
    // One settled payment and one the merchant refuses after the credential (failed).
    REQUIRE(get_via_proxy(proxy.port(), merchant.authority(), "/v2/weather").status == 200);
    REQUIRE(get_via_proxy(proxy.port(), merchant.authority(), "/v2/bad-signature").status == 402);
  }
  std::string text(const std::vector<std::string>& args) const {
    const CommandResult r = proxy.ledger_command(args);
    INFO(r.out << r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code == 0);
    return r.out;
  }
};

const json& cap_of_kind(const json& spend, std::string_view kind) {
  for (const auto& c : spend["caps"]) {
    if (c["kind"] == kind) return c;
  }
  FAIL("no " << kind << " cap in " << spend.dump());
  return spend;
}

std::size_t count_of(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a usage error of any command exits 2 naming the bad option or command; help exits 0") {
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const Case cases[] = {
      {{"bogus"}, "bogus"},
      {{"--bogus"}, "--bogus"},
      {{"receipts", "--bogus"}, "--bogus"},
      {{"receipts", "verify", "--bogus"}, "--bogus"},
      {{"spend", "--jsn"}, "--jsn"},
      {{"check"}, "file"},
      {{"keygen"}, "--out"},
      {{"merchant"}, "--listen"},
      {{"run", "--no-such-flag"}, "--no-such-flag"},
      {{"demo", "--bogus"}, "--bogus"},
      {{"ca", "bogus"}, "bogus"},
      {{"receipts", "--json", "--csv"}, "--csv"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {flow_binary()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const CommandResult r = run_command(argv, kTimeout);
    INFO(c.args.front() << " ...: " << r.out << r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code == 2);
    CHECK(r.err.find(c.named) != std::string::npos);
  }
  for (const std::vector<std::string>& help : {std::vector<std::string>{"--help"},
                                               {"receipts", "--help"},
                                               {"spend", "--help"},
                                               {"ca", "init", "--help"},
                                               {"--version"}}) {
    std::vector<std::string> argv = {flow_binary()};
    argv.insert(argv.end(), help.begin(), help.end());
    const CommandResult r = run_command(argv, kTimeout);
    CHECK(r.status.code == 0);
    CHECK_FALSE(r.out.empty());
  }
}

TEST_CASE("receipts name amounts with the asset's symbol, the attempt and the failure") {
  Paid p;
  const json receipts = p.proxy.receipts();
  REQUIRE(receipts.size() == 2);
  for (const auto& r : receipts) {
    CHECK(r["symbol"] == "USDC");
    CHECK(r["display"] == "0.01 USDC");
    CHECK(r["amount_atomic"] == "10000");  // the existing fields stay
    CHECK(r["superseded_by"].is_null());
  }
  const json& failed = receipts[1]["state"] == "failed" ? receipts[1] : receipts[0];
  REQUIRE(failed["state"] == "failed");
  const std::string failure_code = failed["failure_code"];
  CHECK_FALSE(failure_code.empty());

  const std::string table = p.text({"receipts"});
  CHECK(count_of(table, "0.01 USDC") == 2);
  CHECK(table.find("0x8335") == std::string::npos);  // no asset address where a symbol is known
  CHECK(table.find("ATTEMPT") != std::string::npos);
  CHECK(table.find("  " + std::to_string(failed["attempt_id"].get<int>()) + "  ") !=
        std::string::npos);
  CHECK(table.find(failure_code + ": ") != std::string::npos);
  CHECK(table.find("2 receipt(s)") != std::string::npos);
}

TEST_CASE("--merchant with a bare host matches that host on any port") {
  Paid p;
  const std::string all = p.text({"receipts", "--merchant", "127.0.0.1", "--json"});
  CHECK(json::parse(all).size() == 2);
  const std::string exact = p.text({"receipts", "--merchant", p.merchant.authority(), "--json"});
  CHECK(json::parse(exact).size() == 2);
  CHECK(json::parse(p.text({"receipts", "--merchant", "127.0.0.1:1", "--json"})).empty());
  CHECK(json::parse(p.text({"receipts", "--merchant", "127.0.0", "--json"})).empty());
}

TEST_CASE("spend shows each window's end and reset time, and count caps as counts") {
  Paid p;
  const json spend = p.proxy.spend();
  const json& amount = cap_of_kind(spend, "amount");
  CHECK(amount["window"] == "day");
  CHECK(amount["window_end"] == amount["window_start"].get<std::int64_t>() + 86400);
  CHECK(amount["resets_at"] == amount["window_end"]);
  CHECK(amount["held_amount"] == "20000");  // settled + the refused credential held
  CHECK(amount["held_display"] == "0.02 USDC");
  CHECK(amount["max_display"] == "50 USDC");
  CHECK(amount["symbol"] == "USDC");
  const json& count = cap_of_kind(spend, "payments");
  CHECK(count["window"] == "week");
  CHECK(count["window_end"] == count["window_start"].get<std::int64_t>() + 7 * 86400);
  CHECK(count["held_count"] == 2);
  CHECK(count["max_count"] == 10);
  CHECK(count["held_display"].is_null());
  const json& agent = spend["by_agent"][0];
  CHECK(agent["settled"] == "10000");
  CHECK(agent["settled_display"] == "0.01 USDC");

  const std::string table = p.text({"spend"});
  INFO(table);
  CHECK(table.find("2 payments") != std::string::npos);
  CHECK(table.find("10 payments") != std::string::npos);
  CHECK(table.find("0.02 USDC") != std::string::npos);
  CHECK(table.find("50 USDC") != std::string::npos);
  CHECK(table.find("RESETS") != std::string::npos);
  CHECK(table.find("T00:00:00Z") != std::string::npos);  // a calendar reset at midnight UTC
  CHECK(table.find("0x8335") == std::string::npos);
}

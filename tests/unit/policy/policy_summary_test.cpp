// `402flow check`: the repository's example file is valid, and the summary says what it allows.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "flow/policy/policy_summary.hpp"
#include "policy_test_support.hpp"

namespace {

std::string summary_of(const std::string& yaml) {
  std::ostringstream out;
  write_config_summary(
      out, flow::policy::parse_flow_config(policy_test::versioned(yaml), "flow.yaml"), "flow.yaml");
  return out.str();
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("the repository's flow.yaml passes check and allows payments") {
  const auto config = flow::policy::load_flow_config(FLOW_SOURCE_DIR "/flow.yaml");
  const auto& d = config.policy->definition();
  CHECK_FALSE(d.agents.empty());
  CHECK_FALSE(d.merchants.empty());
  CHECK_FALSE(d.organization.caps.per_request.empty());
  // The example's weather rule pays a small USDC amount on Base for research-bot.
  policy_test::Ask ask;
  ask.agent = "research-bot";
  ask.host = "api.weather.example";
  ask.path = "/v1/forecast";
  ask.offers = {policy_test::base_usdc(10'000)};
  policy_test::Ledger ledger;
  ledger.payees.add("eip155:8453", policy_test::kPayee);
  const auto decision = policy_test::decide(*config.policy, ask, ledger);
  CHECK(decision.verdict == flow::policy::Verdict::allow);
  CHECK(decision.rule == "merchants[weather-api]");

  // And what `402flow demo` relies on: a wallet from FLOW402_EVM_KEY, and the local merchant
  // allowed for research-bot without review.
  REQUIRE(config.wallets.size() == 1);
  CHECK(config.wallets[0].key_env == "FLOW402_EVM_KEY");
  CHECK(config.wallets[0].covers("eip155:8453"));
  ask.host = "127.0.0.1";
  ask.path = "/v2/weather";
  const auto demo = policy_test::decide(*config.policy, ask);
  CHECK(demo.verdict == flow::policy::Verdict::allow);
  CHECK(demo.rule == "merchants[demo-merchant]");
  ask.offers = {policy_test::base_usdc(5'000'000)};
  CHECK(policy_test::decide(*config.policy, ask).reason ==
        flow::policy::ReasonCode::over_request_cap);

  std::ostringstream summary;
  flow::policy::write_config_summary(summary, config, "flow.yaml");
  CHECK(summary.str().find("wallet           main on eip155:8453, eip155:137, key from "
                           "$FLOW402_EVM_KEY") != std::string::npos);
  CHECK(summary.str().find("agent identity   sidecar (agent research-bot)") != std::string::npos);
}

TEST_CASE("the summary lists posture, payable units, caps, review, agents and merchants") {
  const std::string s = summary_of(R"(
wallets:
  - name: base
    networks: [eip155:8453]
    key_env: KEY
organization:
  posture: block
  caps:
    per_request: 1 USDC
    budgets:
      - amount: 50 USDC
        per: day
review:
  amount_over: 0.5 USDC
  approval_ttl: 15m
agents:
  - id: bot
    caps:
      budgets:
        - payments: 100
          rolling: 1h
merchants:
  - name: weather
    host: "*.weather.example"
    path: /v1
    methods: [GET]
    action: allow
    networks: [eip155:8453]
)");
  CHECK(s.rfind("flow.yaml is valid.\n", 0) == 0);
  CHECK(has_line(s, "  posture           block: only merchants a rule allows are paid"));
  CHECK(has_line(s, "  payable           up to 1 USDC"));
  CHECK(has_line(s, "  org budgets       at most 50 USDC per calendar day (UTC)"));
  CHECK(has_line(s, "  review            a payment above 0.5 USDC"));
  CHECK(has_line(s, "                    approvals expire after 15m"));
  CHECK(has_line(s,
                 "                    a reviewed request is answered 403 review_required at "
                 "once (review.hold 0)"));
  CHECK(has_line(s, "  bot               sidecar only (no token hash)"));
  CHECK(has_line(s, "                    at most 100 payments in any rolling 1h"));
  CHECK(has_line(s, "  weather           allow *.weather.example/v1 (GET)"));
  CHECK(has_line(s, "                    networks eip155:8453"));
  CHECK(s.find("msat (0 decimals) on lightning (not payable)") != std::string::npos);
  // Only the networks a wallet covers are payable.
  CHECK(s.find("USDC (6 decimals) on eip155:8453, eip155:84532 (not payable)") !=
        std::string::npos);
}

TEST_CASE("the summary lists as payable only what this build can pay") {
  // No Lightning rail exists: msat caps and the lightning network are named, never payable.
  const std::string with_wallet = summary_of(R"(
wallets:
  - name: evm
    key_env: KEY
organization:
  networks: [eip155:8453, lightning]
  caps:
    per_request: [1 USDC, 50000 msat]
)");
  CHECK(has_line(with_wallet, "  payable           up to 1 USDC"));
  CHECK(has_line(with_wallet,
                 "                    up to 50000 msat: not payable (no Lightning rail in this "
                 "build)"));
  CHECK(has_line(with_wallet,
                 "  networks          eip155:8453, lightning (no Lightning rail in this build)"));
  CHECK(with_wallet.find("msat (0 decimals) on lightning (not payable)") != std::string::npos);

  // Without a wallet nothing is payable at all.
  const std::string without = summary_of("organization:\n  caps:\n    per_request: 1 USDC\n");
  CHECK(has_line(without, "  payable           up to 1 USDC: not payable (no wallet configured)"));
}

TEST_CASE("the summary shows how long a signed payment stays valid") {
  CHECK(has_line(summary_of("version: 1\n"),
                 "  validity          a signed payment is valid at most 10m "
                 "(payment.max_validity), whatever the merchant asks"));
  CHECK(summary_of("version: 1\npayment:\n  max_validity: 90s\n")
            .find("valid at most 90s (payment.max_validity)") != std::string::npos);
}

TEST_CASE("the summary warns when nothing is payable") {
  const std::string s = summary_of("agents:\n  - id: bot\n");
  CHECK(has_line(s, "  payable           nothing (organization.caps.per_request names no unit)"));
}

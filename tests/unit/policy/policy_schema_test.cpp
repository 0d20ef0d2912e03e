// Loading flow.yaml's policy: what a valid file becomes, and the exact error for each mistake.
#include <doctest/doctest.h>

#include <string>

#include "flow/payment/amount.hpp"
#include "policy_test_support.hpp"

using namespace policy_test;

namespace {

struct Bad {
  std::string behaviour;
  std::string yaml;
  std::string message;
};

void check_errors(std::initializer_list<Bad> cases) {
  for (const Bad& c : cases) {
    CAPTURE(c.behaviour);
    CAPTURE(c.yaml);
    CHECK(error_of(c.yaml) == c.message);
  }
}

std::string atomic(const flow::policy::UnitAmount& a) {
  return flow::payment::format_atomic(a.atomic);
}

}  // namespace

TEST_CASE("a complete policy loads into normalized rules") {
  const auto p = load(R"(
organization:
  posture: allow
  networks: [eip155:8453, lightning]
  prefer_networks: [lightning]
  caps:
    per_request: [0.05 USDC, 1000 msat]
    budgets:
      - amount: 12.5 USDC on eip155:8453
        per: week
      - payments: 10
        rolling: 90s
review:
  amount_over: 0.01 USDC
  new_pay_to: true
  approval_ttl: 2h
  hold: 2m
agents:
  - id: alice
    token_sha256: 75648B231AF668B363608A5C3ED68A061DE2D098BC4E185E41EB0D13DD1C98C5
merchants:
  - host: API.Example.COM
    path: /v1/
    methods: [get, Post]
    action: review
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
)");
  const auto& d = p->definition();
  CHECK(d.organization.posture == flow::policy::Posture::allow);
  CHECK(d.organization.prefer_networks == std::vector<std::string>{"lightning"});
  REQUIRE(d.organization.caps.per_request.size() == 2);
  CHECK(atomic(d.organization.caps.per_request[0]) == "50000");
  CHECK(atomic(d.organization.caps.per_request[1]) == "1000");
  REQUIRE(d.organization.caps.budgets.size() == 2);
  CHECK(atomic(*d.organization.caps.budgets[0].amount) == "12500000");
  CHECK(d.organization.caps.budgets[0].amount->network == "eip155:8453");
  CHECK(d.organization.caps.budgets[0].key_tail == "USDC@eip155:8453|week");
  CHECK(d.organization.caps.budgets[1].payments == 10u);
  CHECK(d.organization.caps.budgets[1].window.rolling_seconds == 90);
  CHECK(d.review.new_pay_to);
  CHECK(d.review.approval_ttl.count() == 7200);
  CHECK(d.review.hold.count() == 120);
  REQUIRE(d.agents.size() == 1);
  CHECK(d.agents[0].token_sha256[0] ==
        "75648b231af668b363608a5c3ed68a061de2d098bc4e185e41eb0d13dd1c98c5");
  REQUIRE(d.merchants.size() == 1);
  const auto& m = d.merchants[0];
  CHECK(m.name == "api.example.com");  // the host, when no name is given
  CHECK(m.host == "api.example.com");
  CHECK(m.path_prefix == "/v1/");
  CHECK(m.methods == std::vector<std::string>{"GET", "POST"});
  CHECK(m.action == flow::policy::MerchantAction::review);
  CHECK(m.accept.pay_to == std::vector<std::string>{"0x209693bc6afc0c5328ba36faf03c514ef312287c"});
}

TEST_CASE("amounts in the file are exact decimals; anything else names line and column") {
  check_errors({
      {"more decimals than the asset has",
       "organization:\n  caps:\n    per_request: 0.0000001 USDC\n",
       "flow.yaml:3:18: organization.caps.per_request: '0.0000001' has more decimals than USDC "
       "has (6)"},
      {"a fraction of a millisatoshi", "organization:\n  caps:\n    per_request: 0.5 msat\n",
       "flow.yaml:3:18: organization.caps.per_request: '0.5' has more decimals than msat has (0)"},
      {"past 2^128 atomic units",
       "organization:\n  caps:\n    per_request: 340282366920938463463374607431768.211456 USDC\n",
       "flow.yaml:3:18: organization.caps.per_request: '340282366920938463463374607431768.211456 "
       "USDC' is too large (over 2^128 atomic units)"},
      {"a negative amount", "review:\n  amount_over: -1 USDC\n",
       "flow.yaml:2:16: review.amount_over: amounts cannot be negative, got '-1'"},
      {"exponent notation", "review:\n  amount_over: [1 USDC, 1e3 msat]\n",
       "flow.yaml:2:25: review.amount_over: exponent notation is not accepted, write the decimal "
       "out, got '1e3'"},
      {"a number without a unit", "review:\n  amount_over: 5\n",
       "flow.yaml:2:16: review.amount_over: expected an amount such as '0.05 USDC' or '0.05 USDC "
       "on eip155:8453', got '5'"},
      {"an unknown symbol", "review:\n  amount_over: 5 USDT\n",
       "flow.yaml:2:16: review.amount_over: unknown asset symbol 'USDT' (known: USDC, msat)"},
      {"symbols are case-sensitive", "review:\n  amount_over: 5 usdc\n",
       "flow.yaml:2:16: review.amount_over: unknown asset symbol 'usdc' (known: USDC, msat)"},
      {"a network the symbol is not deployed on", "review:\n  amount_over: 5 USDC on eip155:10\n",
       "flow.yaml:2:16: review.amount_over: USDC is not in the asset table on network "
       "'eip155:10'"},
      {"a comma decimal", "review:\n  amount_over: 0,5 USDC\n",
       "flow.yaml:2:16: review.amount_over: '0,5' is not a decimal number such as 0.05"},
      {"two amounts in one unit", "review:\n  amount_over: [1 USDC, 2 USDC]\n",
       "flow.yaml:2:25: review.amount_over names USDC twice; keep one amount per unit"},
  });
}

TEST_CASE("the largest amount that fits 128 bits is accepted exactly") {
  const auto p = load(
      "organization:\n  caps:\n    per_request: 340282366920938463463374607431768.211455 USDC\n");
  CHECK(atomic(p->definition().organization.caps.per_request[0]) ==
        "340282366920938463463374607431768211455");
}

TEST_CASE("organization and review mistakes name line, column and what was expected") {
  check_errors({
      {"an unknown posture", "organization:\n  posture: permissive\n",
       "flow.yaml:2:12: organization.posture must be allow (pay unconfigured merchants within the "
       "organization's caps) or block (only merchants a rule allows), got 'permissive'"},
      {"an unknown key", "organization:\n  postur: allow\n",
       "flow.yaml:2:3: unknown key 'postur' in organization (expected one of: posture, networks, "
       "prefer_networks, caps)"},
      {"a repeated key", "organization:\n  posture: block\n  posture: allow\n",
       "flow.yaml:3:3: key 'posture' appears twice in organization (first on line 2)"},
      {"a section that is not a mapping", "organization: [allow]\n",
       "flow.yaml:1:15: organization must be a mapping"},
      {"an empty section", "organization:\nreview: {}\n",
       "flow.yaml:1:1: organization must be a mapping"},
      {"a network missing from the asset table",
       "organization:\n  networks: [eip155:8453, eip155:10]\n",
       "flow.yaml:2:27: organization.networks: network 'eip155:10' has no entry in the asset table "
       "(add it under assets:)"},
      {"a network listed twice", "organization:\n  prefer_networks: [lightning, lightning]\n",
       "flow.yaml:2:32: organization.prefer_networks lists 'lightning' twice"},
      {"new_pay_to must be a boolean", "review:\n  new_pay_to: yes\n",
       "flow.yaml:2:15: review.new_pay_to must be true or false"},
      {"approval_ttl over a week", "review:\n  approval_ttl: 200h\n",
       "flow.yaml:2:17: review.approval_ttl must be whole seconds, at most 7 days (168h)"},
      {"hold over an hour", "review:\n  hold: 2h\n",
       "flow.yaml:2:9: review.hold must be whole seconds, at most 1h"},
      {"hold in fractions of a second", "review:\n  hold: 1500ms\n",
       "flow.yaml:2:9: review.hold must be whole seconds, at most 1h"},
      {"approval_ttl not a duration", "review:\n  approval_ttl: soon\n",
       "flow.yaml:2:17: review.approval_ttl must be a positive duration such as 500ms, 10s, 2m, "
       "got 'soon'"},
  });
}

TEST_CASE("budget mistakes name line, column and what was expected") {
  check_errors({
      {"no window", "organization:\n  caps:\n    budgets:\n      - amount: 5 USDC\n",
       "flow.yaml:4:9: organization.caps.budgets[0] needs a window: 'per: day|week|month' "
       "(calendar, UTC) or 'rolling: <duration>'"},
      {"two windows",
       "organization:\n  caps:\n    budgets:\n      - amount: 5 USDC\n        per: day\n"
       "        rolling: 1h\n",
       "flow.yaml:6:18: organization.caps.budgets[0] has both 'per' and 'rolling'; choose one"},
      {"a calendar window that does not exist",
       "organization:\n  caps:\n    budgets:\n      - amount: 5 USDC\n        per: year\n",
       "flow.yaml:5:14: organization.caps.budgets[0].per must be day, week or month, got 'year'"},
      {"a rolling window in fractions of a second",
       "organization:\n  caps:\n    budgets:\n      - payments: 5\n        rolling: 1500ms\n",
       "flow.yaml:5:18: organization.caps.budgets[0].rolling must be whole seconds, at most 400 "
       "days"},
      {"neither amount nor payments", "organization:\n  caps:\n    budgets:\n      - per: day\n",
       "flow.yaml:4:9: organization.caps.budgets[0] needs 'amount' or 'payments'"},
      {"both amount and payments",
       "organization:\n  caps:\n    budgets:\n      - amount: 5 USDC\n        payments: 3\n"
       "        per: day\n",
       "flow.yaml:5:19: organization.caps.budgets[0] has both 'amount' and 'payments'; write two "
       "budgets"},
      {"zero payments",
       "organization:\n  caps:\n    budgets:\n      - payments: 0\n        per: day\n",
       "flow.yaml:4:19: organization.caps.budgets[0].payments must be an integer from 1 to "
       "1000000000, got '0'"},
      {"two budgets on one counter",
       "organization:\n  caps:\n    budgets:\n      - amount: 5 USDC\n        per: day\n"
       "      - amount: 9 USDC\n        per: day\n",
       "flow.yaml:6:9: organization.caps.budgets[1] has the same unit and window as "
       "organization.caps.budgets[0]; keep one of them"},
      {"an unknown cap key", "organization:\n  caps:\n    per_day: 5 USDC\n",
       "flow.yaml:3:5: unknown key 'per_day' in organization.caps (expected one of: per_request, "
       "budgets)"},
  });
}

TEST_CASE("merchant mistakes name line, column and what was expected") {
  check_errors({
      {"no action", "merchants:\n  - host: a.example\n",
       "flow.yaml:2:5: merchants[0] needs 'action'"},
      {"no host", "merchants:\n  - action: allow\n", "flow.yaml:2:5: merchants[0] needs 'host'"},
      {"an unknown action", "merchants:\n  - host: a.example\n    action: pay\n",
       "flow.yaml:3:13: merchants[0].action must be allow, deny or review, got 'pay'"},
      {"a misspelt key", "merchants:\n  - host: a.example\n    action: allow\n    hots: b\n",
       "flow.yaml:4:5: unknown key 'hots' in merchants[0] (expected one of: name, host, path, "
       "methods, action, networks, assets, pay_to, caps, insecure_upstream)"},
      {"a port in the host", "merchants:\n  - host: a.example:443\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].host must be a host name without scheme or port, got "
       "'a.example:443'"},
      {"a URL instead of a host", "merchants:\n  - host: https://a.example\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].host must be a host name without scheme or port, got "
       "'https://a.example'"},
      {"a wildcard inside the name", "merchants:\n  - host: api.*.example\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].host: only a leading '*.' wildcard is supported, got "
       "'api.*.example'"},
      {"a bare star", "merchants:\n  - host: \"*\"\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].host: only a leading '*.' wildcard is supported, got '*'"},
      {"an empty label", "merchants:\n  - host: a..example\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].host must be a host name such as api.example.com or "
       "*.example.com, got 'a..example'"},
      {"a path without a leading slash",
       "merchants:\n  - host: a.example\n    path: v1\n    action: allow\n",
       "flow.yaml:3:11: merchants[0].path must be a path prefix such as /v1 (no query, no dot "
       "segments, no encoded characters), got 'v1'"},
      {"a path with dot segments",
       "merchants:\n  - host: a.example\n    path: /v1/../x\n    action: allow\n",
       "flow.yaml:3:11: merchants[0].path must be a path prefix such as /v1 (no query, no dot "
       "segments, no encoded characters), got '/v1/../x'"},
      {"a method that is not a word",
       "merchants:\n  - host: a.example\n    methods: [GET, \"P OST\"]\n    action: allow\n",
       "flow.yaml:3:20: merchants[0].methods entries must be HTTP methods such as GET, got 'P "
       "OST'"},
      {"a malformed EVM payee",
       "merchants:\n  - host: a.example\n    action: allow\n    pay_to: 0x1234\n",
       "flow.yaml:4:13: merchants[0].pay_to: '0x1234' is not a 0x address of 40 hex digits"},
      {"an asset symbol the table lacks",
       "merchants:\n  - host: a.example\n    action: allow\n    assets: [USDT]\n",
       "flow.yaml:4:14: merchants[0].assets: unknown asset symbol 'USDT' (known: USDC, msat)"},
      {"a name with a separator",
       "merchants:\n  - name: a|b\n    host: a.example\n    action: allow\n",
       "flow.yaml:2:11: merchants[0].name must be 1 to 64 of A-Z a-z 0-9 . _ -, got 'a|b'"},
      {"two rules with one name",
       "merchants:\n  - name: m\n    host: a.example\n    action: allow\n"
       "  - name: m\n    host: b.example\n    action: allow\n",
       "flow.yaml:5:5: merchant name 'm' is used twice (first on line 2); give one of them a "
       "distinct 'name:'"},
      {"two hosts without names share the default name",
       "merchants:\n  - host: a.example\n    action: allow\n"
       "  - host: A.EXAMPLE\n    path: /v1\n    action: deny\n",
       "flow.yaml:4:5: merchant name 'a.example' is used twice (first on line 2); give one of "
       "them a distinct 'name:'"},
      {"a rule that can never apply",
       "merchants:\n  - name: one\n    host: a.example\n    action: allow\n"
       "  - name: two\n    host: a.example\n    action: deny\n",
       "flow.yaml:5:5: merchants[two] matches the same requests as merchants[one] (line 2), so it "
       "could never apply; merge them"},
      {"merchant caps are named by the merchant",
       "merchants:\n  - name: m\n    host: a.example\n    action: allow\n    caps:\n"
       "      per_request: 1 USDT\n",
       "flow.yaml:6:20: merchants[m].caps.per_request: unknown asset symbol 'USDT' (known: USDC, "
       "msat)"},
  });
}

TEST_CASE("agent mistakes name line, column and what was expected") {
  const std::string hash = "75648b231af668b363608a5c3ed68a061de2d098bc4e185e41eb0d13dd1c98c5";
  const std::string two_agents_one_hash = "agents:\n  - id: a\n    token_sha256: " + hash +
                                          "\n  - id: b\n    token_sha256: " + hash + "\n";
  check_errors({
      {"no id", "agents:\n  - caps: {}\n", "flow.yaml:2:5: agents[0] needs 'id'"},
      {"an id with a space", "agents:\n  - id: my agent\n",
       "flow.yaml:2:9: agents[0].id must be 1 to 64 of A-Z a-z 0-9 . _ -, got 'my agent'"},
      {"a token instead of its hash", "agents:\n  - id: a\n    token_sha256: s3cret\n",
       "flow.yaml:3:19: agents[0].token_sha256 must be the SHA-256 of a token as 64 hex digits "
       "(never the token itself)"},
      {"one id twice", "agents:\n  - id: a\n  - id: a\n",
       "flow.yaml:3:5: agent id 'a' is used twice"},
      {"one token hash for two agents", two_agents_one_hash,
       "flow.yaml:4:5: agents[b] has a token hash already given to agents[a]"},
      {"caps at a merchant that has no rule",
       "agents:\n  - id: a\n    merchant_caps:\n      nowhere:\n        per_request: 1 USDC\n",
       "flow.yaml:4:7: agents[a].merchant_caps names 'nowhere', which is not the name of a "
       "merchant rule (or \"*\")"},
      {"agents must be a list", "agents:\n  id: a\n", "flow.yaml:2:3: agents must be a list"},
  });
}

TEST_CASE("asset table mistakes name line, column and what was expected") {
  check_errors({
      {"a short EVM address",
       "assets:\n  - network: eip155:8453\n    asset: \"0x1234\"\n    symbol: X\n    decimals: 6\n",
       "flow.yaml:3:12: assets[0].asset on an eip155 network must be a 0x address of 40 hex "
       "digits"},
      {"an entry the built-in table already has",
       "assets:\n  - network: eip155:8453\n    asset: "
       "\"0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913\"\n"
       "    symbol: USDC2\n    decimals: 6\n",
       "flow.yaml:2:5: assets[0]: asset 0x833589fcd6edb6e08f4c7c32d4f71b54bda02913 on "
       "eip155:8453 is already in the table as USDC (built in)"},
      {"one symbol with other decimals",
       "assets:\n  - network: eip155:56\n    asset: "
       "\"0x8ac76a51cc950d9822d68b83fe1ad97b32cd580d\"\n"
       "    symbol: USDC\n    decimals: 18\n",
       "flow.yaml:2:5: assets[0]: symbol USDC already has 6 decimals (on eip155:8453); one symbol "
       "must name one unit"},
      {"more decimals than 128 bits can hold",
       "assets:\n  - network: solana:mainnet\n    asset: Mint1\n    symbol: X\n    decimals: 39\n",
       "flow.yaml:5:15: assets[0].decimals must be an integer from 0 to 38, got '39'"},
      {"a network that is not CAIP-2",
       "assets:\n  - network: \"eip155 8453\"\n    asset: x\n    symbol: X\n    decimals: 6\n",
       "flow.yaml:2:14: assets[0].network must be a CAIP-2 id such as eip155:8453, got 'eip155 "
       "8453'"},
  });
}

TEST_CASE("an added asset becomes a unit amounts can be written in") {
  const auto p = load(R"(
assets:
  - network: eip155:8453
    asset: "0x60a3E35Cc302bFA44Cb288Bc5a4F316Fdb1adb42"
    symbol: EURC
    decimals: 6
organization:
  caps:
    per_request: 2.5 EURC
)");
  CHECK(atomic(p->definition().organization.caps.per_request[0]) == "2500000");
  const auto* e = p->assets().find("eip155:8453", "0x60a3e35cc302bfa44cb288bc5a4f316fdb1adb42");
  REQUIRE(e != nullptr);
  CHECK(e->symbol == "EURC");
}

TEST_CASE("the proxy section keeps working beside the policy") {
  const auto c = flow::policy::parse_flow_config(
      "version: 1\nproxy:\n  listen: 127.0.0.1:9000\nagents:\n  - id: a\n", "flow.yaml");
  CHECK(c.proxy.listen == "127.0.0.1:9000");
  CHECK(c.policy->find_agent("a") != nullptr);
}

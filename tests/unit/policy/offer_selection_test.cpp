// Several offers in one challenge: which one policy takes, and why the rest were not taken.
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

using namespace policy_test;
using flow::policy::ReasonCode;
using flow::policy::Verdict;

namespace {

const char* const kPolicy = R"(
organization:
  posture: allow
  prefer_networks: [eip155:8453, lightning]
  caps:
    per_request: [1 USDC, 100000 msat]
review:
  amount_over: 0.50 USDC
agents:
  - id: alice
)";

}  // namespace

TEST_CASE("the cheaper offer in the same unit wins, even on a less preferred network") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(20'000), polygon_usdc(10'000)};
  const auto d = decide(*policy, ask);
  CHECK(d.verdict == Verdict::allow);
  CHECK(d.offer_index == 1u);
  CHECK(d.offer->network == "eip155:137");
}

TEST_CASE("offers in units that cannot be compared are ranked by prefer_networks") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {lightning_msat(1), base_usdc(20'000)};
  CHECK(decide(*policy, ask).offer_index == 1u);  // eip155:8453 is listed first
}

TEST_CASE("a network missing from prefer_networks ranks after every listed one") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {polygon_usdc(10'000), lightning_msat(10)};
  CHECK(decide(*policy, ask).offer_index == 1u);
}

TEST_CASE("equal offers on equally ranked networks are taken in the challenge's order") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {polygon_usdc(10'000),
                offer("eip155:43114", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", 10'000)};
  CHECK(decide(*policy, ask).offer_index == 0u);
  std::swap(ask.offers[0], ask.offers[1]);
  CHECK(decide(*policy, ask).offer->network == "eip155:43114");
}

TEST_CASE("an allowed offer beats a cheaper one that needs review") {
  std::string yaml = kPolicy;
  yaml.insert(yaml.find("agents:"), "  new_pay_to: true\n");  // into the review section
  const auto policy = load(yaml);
  Ledger ledger;
  ledger.payees.add("eip155:8453", kOtherPayee);
  Ask ask;
  // The cheaper offer pays a payee never paid before (review); the dearer one a known payee.
  ask.offers = {base_usdc(10'000, kPayee), base_usdc(20'000, kOtherPayee)};
  const auto d = decide(*policy, ask, ledger);
  CHECK(d.verdict == Verdict::allow);
  CHECK(d.offer_index == 1u);
  REQUIRE(d.offers.size() == 2);
  CHECK(d.offers[0].verdict == Verdict::review);
  CHECK(d.offers[0].rule == "review.new_pay_to");
}

TEST_CASE("when only reviewable offers remain, the review is for the preferred one") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {polygon_usdc(700'000), base_usdc(600'000)};
  const auto d = decide(*policy, ask);
  CHECK(d.verdict == Verdict::review);
  CHECK(d.offer_index == 1u);
  CHECK(d.rule == "review.amount_over");
}

TEST_CASE("a refused offer is never chosen, however cheap") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {offer("eip155:8453", "0x2222222222222222222222222222222222222222", 1),
                base_usdc(30'000)};
  const auto d = decide(*policy, ask);
  CHECK(d.offer_index == 1u);
  REQUIRE(d.offers.size() == 2);
  CHECK(d.offers[0].reason == ReasonCode::unknown_asset);
  CHECK(d.offers[1].reason == ReasonCode::allowed);
}

TEST_CASE("offers refused for different reasons give no_acceptable_offer with each reason") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(2'000'000), offer("eip155:8453", "0xdead", 1)};
  const auto d = decide(*policy, ask);
  CHECK(d.verdict == Verdict::deny);
  CHECK(d.reason == ReasonCode::no_acceptable_offer);
  CHECK_FALSE(d.offer.has_value());
  REQUIRE(d.offers.size() == 2);
  CHECK(d.offers[0].reason == ReasonCode::over_request_cap);
  CHECK(d.offers[0].rule == "organization.caps.per_request");
  CHECK(d.offers[1].reason == ReasonCode::unknown_asset);
}

TEST_CASE("offers all refused for the same reason report that reason") {
  const auto policy = load(kPolicy);
  Ask ask;
  ask.offers = {base_usdc(2'000'000), polygon_usdc(3'000'000)};
  const auto d = decide(*policy, ask);
  CHECK(d.reason == ReasonCode::over_request_cap);
  CHECK(d.rule == "organization.caps.per_request");
}

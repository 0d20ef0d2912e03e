#include <doctest/doctest.h>

#include <type_traits>

#include "flow/policy/policy_rules.hpp"
#include "flow/policy/verdict.hpp"

using flow::policy::Verdict;

TEST_CASE(
    "a merchant rule's action is the verdict it gives, named as the decisions table stores it") {
  static_assert(std::is_same_v<flow::policy::MerchantAction, Verdict>);
  CHECK(flow::policy::verdict_name(Verdict::allow) == "allow");
  CHECK(flow::policy::verdict_name(Verdict::deny) == "deny");
  CHECK(flow::policy::verdict_name(Verdict::review) == "review");
  for (const Verdict v : {Verdict::allow, Verdict::deny, Verdict::review}) {
    CHECK(flow::policy::verdict_from_name(flow::policy::verdict_name(v)) == v);
  }
  CHECK_FALSE(flow::policy::verdict_from_name("block").has_value());
}

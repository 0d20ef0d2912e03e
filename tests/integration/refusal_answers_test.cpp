// What a refusal says, through the real binary: a full budget names the cap, what is spent, the
// window and when it resets (with a Retry-After that matches); the agent's own
// X-402flow-Max-Amount refusal says it was the agent's limit; merchant_not_allowed names the host
// it saw; an agent whose rule says deny is refused every payment while its pass-through traffic
// flows.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/paid_proxy.hpp"
#include "support/test_origin.hpp"
#include "support/x402_origin_wire.hpp"
#include "x402_shop.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

// The default policy with its per-request cap followed by `budgets` (YAML list items).
PaidProxyOptions with_org_budget(const std::string& budget) {
  PaidProxyOptions o;
  o.policy = default_policy();
  const std::string caps = "    per_request: [1 USDC]\n";
  o.policy.replace(o.policy.find(caps), caps.size(), caps + "    budgets:\n" + budget);
  return o;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t next_utc_midnight(std::int64_t now) {
  return (now / 86400 + 1) * 86400;
}

std::string rfc3339(std::int64_t t) {
  const auto seconds = static_cast<std::time_t>(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace

TEST_CASE("a full daily amount cap names the cap, the spent amount, the window and the reset") {
  Shop shop;
  PaidProxy proxy(with_org_budget("      - amount: 0.015 USDC\n        per: day\n"));
  const HttpResponse first = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/a");
  REQUIRE(first.status == 200);

  const std::int64_t before = unix_now();
  const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/b");
  const std::int64_t after = unix_now();
  INFO(r.head << r.body);
  REQUIRE(r.status == 403);
  const json body = problem_of(r);
  CHECK(body["code"] == "over_org_cap");
  CHECK(body["rule"] == "organization.caps.budgets[0]");
  CHECK(body["cap"]["amount"] == "15000");
  CHECK(body["cap"]["display"] == "0.015 USDC");
  CHECK(body["spent"]["amount"] == "10000");
  CHECK(body["spent"]["display"] == "0.01 USDC");
  CHECK(body["spent"]["payments"] == 1);
  CHECK(body["offer_amount"]["display"] == "0.01 USDC");
  CHECK(body["window"] == "day");
  // The window resets at the next midnight UTC (unless the test ran across one).
  const std::int64_t resets = next_utc_midnight(before);
  CHECK((body["resets_at"] == rfc3339(resets) || body["resets_at"] == rfc3339(resets + 86400)));
  // Retry-After: the seconds until then, the same number as the body's retry_after.
  const std::string retry_after = header_or_absent(r, "retry-after");
  REQUIRE(retry_after != "<absent>");
  const std::int64_t seconds = std::stoll(retry_after);
  CHECK(body["retry_after"] == seconds);
  CHECK(seconds >= next_utc_midnight(after) - after);
  CHECK(seconds <= next_utc_midnight(before) - before);
  const std::string detail = body.value("detail", "");
  CHECK(detail.find("at most 0.015 USDC per calendar day (UTC)") != std::string::npos);
  CHECK(detail.find("0.01 USDC already spent") != std::string::npos);
  CHECK(detail.find("it resets at " + body.value("resets_at", "")) != std::string::npos);
  CHECK(shop.credentials_seen() == 1);  // the refused payment was never signed
}

TEST_CASE("a full count cap in a rolling window names the count and when room comes back") {
  Shop shop;
  PaidProxy proxy(with_org_budget("      - payments: 1\n        rolling: 1h\n"));
  REQUIRE(get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/a").status == 200);
  const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/b");
  INFO(r.head << r.body);
  REQUIRE(r.status == 403);
  const json body = problem_of(r);
  CHECK(body["code"] == "over_org_cap");
  CHECK(body["cap"] == json{{"payments", 1}});
  CHECK(body["spent"] == json{{"payments", 1}});
  CHECK(body["window"] == "rolling:3600s");
  const std::int64_t seconds = std::stoll(header_or_absent(r, "retry-after"));
  CHECK(seconds > 3590);
  CHECK(seconds <= 3600);
  CHECK(body.value("detail", "")
            .find("at most 1 payment in any rolling 1h, 1 payment already "
                  "made") != std::string::npos);
}

TEST_CASE("the agent's X-402flow-Max-Amount refusal says it was the agent's limit, not policy") {
  Shop shop;
  PaidProxy proxy;
  const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/a",
                                       "X-402flow-Max-Amount: 0.005 USDC\r\n");
  INFO(r.head << r.body);
  REQUIRE(r.status == 403);
  const json body = problem_of(r);
  CHECK(body["code"] == "over_agent_max_amount");
  CHECK(body["agent_max_amount"]["header"] == "0.005 USDC");
  CHECK(body["agent_max_amount"]["amount"] == "5000");
  CHECK(body["agent_max_amount"]["display"] == "0.005 USDC");
  CHECK(body["offer_amount"]["display"] == "0.01 USDC");
  const std::string detail = body.value("detail", "");
  CHECK(detail.find("the agent's own limit refused this payment, not the policy") !=
        std::string::npos);
  CHECK(detail.find("the offer asks 0.01 USDC, above the agent's 0.005 USDC") != std::string::npos);
  CHECK(header_or_absent(r, "retry-after") == "<absent>");  // waiting does not help

  // A maximum in a unit the offer is not in says so.
  const HttpResponse other = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/b",
                                           "X-402flow-Max-Amount: 500 msat\r\n");
  const json other_body = problem_of(other);
  CHECK(other_body["code"] == "over_agent_max_amount");
  CHECK_FALSE(other_body["agent_max_amount"].contains("amount"));
  CHECK(other_body.value("detail", "").find("names no amount in the offer's unit") !=
        std::string::npos);
  CHECK(shop.credentials_seen() == 0);
}

TEST_CASE("merchant_not_allowed names the host the proxy saw") {
  Shop shop;
  PaidProxy proxy;
  const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/unlisted/x");
  INFO(r.head << r.body);
  REQUIRE(r.status == 403);
  const json body = problem_of(r);
  CHECK(body["code"] == "merchant_not_allowed");
  CHECK(body["host"] == "127.0.0.1");
  CHECK(body.value("detail", "").find("no merchant rule matches the host 127.0.0.1") !=
        std::string::npos);
}

TEST_CASE("an agent whose rule says deny is refused every payment; its pass-through flows") {
  Shop shop;
  PaidProxyOptions o;
  o.policy = default_policy();
  const std::string agent = "  - id: test-agent\n";
  o.policy.replace(o.policy.find(agent), agent.size(), agent + "    action: deny\n");
  PaidProxy proxy(o);
  const HttpResponse r = get_via_proxy(proxy.port(), shop.origin.authority(), "/paid/a");
  INFO(r.head << r.body);
  REQUIRE(r.status == 403);
  const json body = problem_of(r);
  CHECK(body["code"] == "agent_denied");
  CHECK(body["rule"] == "agents[test-agent].action");
  CHECK(body["agent"] == "test-agent");
  CHECK(header_or_absent(r, "x-402flow-error") == "agent_denied");
  CHECK(shop.credentials_seen() == 0);
  CHECK(proxy.receipts().empty());

  const HttpResponse free = get_via_proxy(proxy.port(), shop.origin.authority(), "/free");
  CHECK(free.status == 200);
  CHECK(free.body == "free");
}

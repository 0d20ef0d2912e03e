// The operator's loop end to end, over the real binary: an agent's request held for review, the
// decision taken through the admin API, and what the agent and the ledger then see. Also that
// requests parked on a review hold up nobody else.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/paid_proxy.hpp"
#include "support/socket_io.hpp"

using namespace flow::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// /v2/weather (0.01 USDC) goes to review; the agent's connection is held up to `hold`.
std::string review_policy(std::string_view hold) {
  return policy_with_budget() +
         "review:\n  amount_over: [0.005 USDC]\n  hold: " + std::string(hold) +
         "\n  approval_ttl: 10m\n";
}

struct Reviewed {
  explicit Reviewed(std::string_view hold) : proxy(options(hold)) {}

  static PaidProxyOptions options(std::string_view hold) {
    PaidProxyOptions o;
    o.policy = review_policy(hold);
    return o;
  }

  std::string admin_authority() {
    return "127.0.0.1:" + std::to_string(proxy.process().admin_port());
  }

  HttpResponse admin(std::string_view method, std::string_view path, std::string_view body = {}) {
    const std::string headers = body.empty() ? "" : "Content-Type: application/json\r\n";
    return send_via_proxy(proxy.process().admin_port(),
                          proxied_request(method, admin_authority(), path, headers, body));
  }

  json pending() {
    const HttpResponse r = admin("GET", "/v1/approvals?state=pending");
    REQUIRE(r.status == 200);
    return json::parse(r.body)["items"];
  }

  // Waits (bounded) until `count` agents are held on one pending approval; returns it.
  json wait_held(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      const json items = pending();
      if (items.size() == 1 && items[0]["held"] == count) return items[0];
      std::this_thread::sleep_for(20ms);
    }
    FAIL("the requests were not held on one approval");
    return {};
  }

  std::future<HttpResponse> get_async(std::string path) {
    const std::uint16_t port = proxy.port();
    const std::string authority = merchant.authority();
    return std::async(std::launch::async,
                      [port, authority, path] { return get_via_proxy(port, authority, path); });
  }

  MerchantProcess merchant;
  PaidProxy proxy;
};

}  // namespace

TEST_CASE("a held request approved through the admin API continues and is paid once") {
  Reviewed r("30s");
  auto held = r.get_async("/v2/weather");
  const json approval = r.wait_held(1);
  CHECK(approval["state"] == "pending");
  CHECK(approval["offer"]["display"] == "0.01 USDC");
  CHECK(merchant_book(r.merchant).empty());

  const HttpResponse approved =
      r.admin("POST", "/v1/approvals/" + approval["id"].get<std::string>() + "/approve",
              R"({"note":"looks fine"})");
  INFO(approved.body);
  REQUIRE(approved.status == 200);
  CHECK(json::parse(approved.body)["state"] == "approved");

  REQUIRE(held.wait_for(15s) == std::future_status::ready);
  const HttpResponse paid = held.get();
  INFO(paid.head << paid.body);
  CHECK(paid.status == 200);
  CHECK(paid.header("x-402flow-payment-state") == "settled");
  CHECK(merchant_book(r.merchant).size() == 1);
  const auto receipts = receipts_for(r.proxy.receipts(), "/v2/weather");
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0]["state"] == "settled");
  CHECK(receipts[0]["approval_id"] == approval["id"]);
  // The approval was used by that payment, and is listed so.
  const HttpResponse used = r.admin("GET", "/v1/approvals?state=used");
  REQUIRE(used.status == 200);
  const json used_items = json::parse(used.body)["items"];
  REQUIRE(used_items.size() == 1);
  CHECK(used_items[0]["id"] == approval["id"]);
  CHECK(used_items[0]["attempt_id"] == receipts[0]["attempt_id"]);
  CHECK(r.pending().empty());
  // Approving again is refused: it is no longer pending.
  CHECK(r.admin("POST", "/v1/approvals/" + approval["id"].get<std::string>() + "/approve").status ==
        409);
}

TEST_CASE("a held request denied through the admin API gets the operator's reason, unpaid") {
  Reviewed r("30s");
  auto held = r.get_async("/v2/weather");
  const json approval = r.wait_held(1);
  const HttpResponse denied =
      r.admin("POST", "/v1/approvals/" + approval["id"].get<std::string>() + "/deny",
              R"({"reason":"not this merchant"})");
  REQUIRE(denied.status == 200);
  REQUIRE(held.wait_for(15s) == std::future_status::ready);
  const HttpResponse answer = held.get();
  INFO(answer.head << answer.body);
  CHECK(answer.status == 403);
  const json problem = json::parse(answer.body);
  CHECK(problem["code"] == "approval_denied");
  CHECK(answer.body.find("not this merchant") != std::string::npos);
  CHECK(merchant_book(r.merchant).empty());
  CHECK(receipts_for(r.proxy.receipts(), "/v2/weather").empty());
}

TEST_CASE("100 requests held for review hold up no pass-through request") {
  Reviewed r("60s");
  std::vector<std::future<HttpResponse>> held;
  for (int i = 0; i < 100; ++i) held.push_back(r.get_async("/v2/weather"));
  const json approval = r.wait_held(100);
  // Pass-through traffic is served while they wait, each on its own connection.
  for (int i = 0; i < 50; ++i) {
    const HttpResponse free = get_via_proxy(r.proxy.port(), r.merchant.authority(), "/free");
    REQUIRE(free.status == 200);
  }
  CHECK(r.pending()[0]["held"] == 100);
  // One decision answers every agent waiting on the approval.
  REQUIRE(r.admin("POST", "/v1/approvals/" + approval["id"].get<std::string>() + "/deny",
                  R"({"reason":"bulk"})")
              .status == 200);
  for (auto& h : held) {
    REQUIRE(h.wait_for(15s) == std::future_status::ready);
    CHECK(h.get().status == 403);
  }
  CHECK(merchant_book(r.merchant).empty());
}

TEST_CASE(
    "agents that close while held are let go: nothing held, nothing paid, the approval kept") {
  Reviewed r("10m");
  std::vector<Fd> agents;
  for (int i = 0; i < 3; ++i) {
    Fd fd = connect_loopback(r.proxy.port(), default_deadline());
    const std::string request =
        proxied_request("GET", r.merchant.authority(), "/v2/weather", "Idempotency-Key: k\r\n");
    REQUIRE(::write(fd.get(), request.data(), request.size()) ==
            static_cast<ssize_t>(request.size()));
    agents.push_back(std::move(fd));
  }
  const json approval = r.wait_held(3);
  agents.clear();  // every agent closes its connection
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  json items;
  do {
    items = r.pending();
    if (items.size() == 1 && items[0]["held"] == 0) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  REQUIRE(items.size() == 1);
  CHECK(items[0]["id"] == approval["id"]);
  CHECK(items[0]["held"] == 0);
  CHECK(items[0]["state"] == "pending");
  // Approving it later pays nothing: nobody is waiting, and a payment needs a request.
  REQUIRE(
      r.admin("POST", "/v1/approvals/" + approval["id"].get<std::string>() + "/approve").status ==
      200);
  CHECK(merchant_book(r.merchant).empty());
  CHECK(receipts_for(r.proxy.receipts(), "/v2/weather").empty());
}

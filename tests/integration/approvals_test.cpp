// Review that holds, over the real binary: the review answer's contract, one approval per
// question, and held requests across a SIGKILL (nothing paid; approvals and decisions kept).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"

using namespace flow::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The default policy, paying up to 10 USDC a request, reviewing above 1 USDC (the merchant's
// /v2/expensive asks 5), with review.hold as given.
std::string review_policy(std::string_view hold) {
  std::string p = default_policy();
  const std::string from = "per_request: [1 USDC]\n";
  p.replace(p.find(from), from.size(),
            "per_request: [10 USDC]\nreview:\n  amount_over: 1 USDC\n  hold: " + std::string(hold) +
                "\n");
  return p;
}

// One number from the ledger, read with SQLite itself.
long long ledger_count(const std::string& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> conn(raw, &sqlite3_close);
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const long long n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return n;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("review with hold 0: 403 with the approval and how to wait; asked again, the same one") {
  MerchantProcess merchant;
  PaidProxyOptions o;
  o.policy = review_policy("0");
  PaidProxy proxy(o);

  const HttpResponse first = get_via_proxy(proxy.port(), merchant.authority(), "/v2/expensive");
  CHECK(first.status == 403);
  const json body = problem_of(first);
  CHECK(body["code"] == "review_required");
  const std::string id = body.value("approval_id", "");
  REQUIRE(id.rfind("apr_", 0) == 0);
  CHECK(header_or_absent(first, "x-402flow-approval") == id);
  CHECK(body["approval_state"] == "pending");
  CHECK(body["poll"] == "/v1/approvals/" + id);
  CHECK(body["retry_with"] == "X-402flow-Approval: " + id);
  const std::string expires = body.value("expires_at", "");
  CHECK(expires.size() == 20);  // 2026-01-01T00:15:00Z
  CHECK(expires.ends_with("Z"));
  CHECK(body["expires_at_ms"].get<long long>() > 0);

  const HttpResponse again = get_via_proxy(proxy.port(), merchant.authority(), "/v2/expensive");
  CHECK(again.status == 403);
  CHECK(problem_of(again)["approval_id"] == id);
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM approvals") == 1);
  CHECK(ledger_count(proxy.db(),
                     "SELECT count(*) FROM decisions WHERE approval_id = '" + id + "'") == 2);

  // Naming the approval while it is pending is the same review.
  const HttpResponse named = get_via_proxy(proxy.port(), merchant.authority(), "/v2/expensive",
                                           "X-402flow-Approval: " + id + "\r\n");
  CHECK(named.status == 403);
  CHECK(problem_of(named)["code"] == "review_required");
  // An approval id that names nothing pays nothing.
  const HttpResponse unknown = get_via_proxy(proxy.port(), merchant.authority(), "/v2/expensive",
                                             "X-402flow-Approval: apr_nothing\r\n");
  CHECK(unknown.status == 409);
  CHECK(problem_of(unknown)["code"] == "approval_mismatch");
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM attempts") == 0);
  CHECK(merchant_book(merchant).empty());
}

TEST_CASE("requests held for review survive nothing but their approval: SIGKILL pays nothing") {
  MerchantProcess merchant;
  PaidProxyOptions o;
  o.policy = review_policy("5m");
  PaidProxy proxy(o);

  // Two agents ask the same question; both wait on it, parked.
  std::vector<std::unique_ptr<ClientConnection>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<ClientConnection>(proxy.port()));
    held.back()->send(proxied_request("GET", merchant.authority(), "/v2/expensive"));
  }
  REQUIRE(
      wait_for([&] { return ledger_count(proxy.db(), "SELECT count(*) FROM decisions") == 2; }));
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM approvals") == 1);
  // Still held: no answer within a moment.
  std::string received;
  CHECK_FALSE(held[0]->wait_for_close(deadline_in(std::chrono::milliseconds(300)), &received));
  CHECK(received.empty());

  proxy.kill();
  for (auto& c : held) CHECK(c->wait_for_close(deadline_in(std::chrono::seconds(5))));
  proxy.start();

  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM attempts") == 0);
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM approvals WHERE state = 'pending'") == 1);
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM decisions WHERE outcome = 'review'") == 2);
  CHECK(proxy.receipts().empty());
  CHECK(merchant_book(merchant).empty());
  // The restarted proxy reuses the approval for the same question.
  ClientConnection again(proxy.port());
  again.send(proxied_request("GET", merchant.authority(), "/v2/expensive"));
  REQUIRE(
      wait_for([&] { return ledger_count(proxy.db(), "SELECT count(*) FROM decisions") == 3; }));
  CHECK(ledger_count(proxy.db(), "SELECT count(*) FROM approvals") == 1);
}

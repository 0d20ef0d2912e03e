// The admin API under /v1/ on a real proxy with a real ledger: the token on every endpoint,
// answers to bad requests, approvals opened by review and decided through the API (409 when
// their state forbids it), unknown payments reconciled, lists equal to the ledger CLI's, the
// operator audit chain (and a tampered row caught), and a policy reload.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/merchant_process.hpp"
#include "support/metrics_parser.hpp"
#include "support/paid_proxy.hpp"
#include "support/temp_dir.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr const char* kToken = "env-admin-token-0123456789";
constexpr const char* kAliceToken = "alice-admin-token-9876543210";

// The default policy with payments over 1 USDC sent to review (up to 10 USDC per request).
std::string review_policy(std::string_view extra_review = {}) {
  std::string p = default_policy();
  const std::string caps = "per_request: [1 USDC]\n";
  p.replace(p.find(caps), caps.size(),
            "per_request: [10 USDC]\nreview:\n  amount_over: 1 USDC\n" + std::string(extra_review));
  return p;
}

// A proxy paying the merchant, with FLOW402_ADMIN_TOKEN ("env") and admin.tokens' alice.
struct Admin {
  MerchantProcess merchant;
  PaidProxy proxy;

  explicit Admin(std::string policy = default_policy()) : proxy(options(std::move(policy))) {
    write_text_file(proxy.path("alice.token"), std::string(kAliceToken) + "\n");
    REQUIRE(::chmod(proxy.path("alice.token").c_str(), 0600) == 0);
    proxy.start({std::string("FLOW402_ADMIN_TOKEN=") + kToken});
  }

  static PaidProxyOptions options(std::string policy) {
    PaidProxyOptions o;
    o.policy =
        std::move(policy) + "admin:\n  tokens:\n    - name: alice\n      file: alice.token\n";
    o.autostart = false;
    return o;
  }

  HttpResponse call(std::string_view method, std::string_view path, std::string_view token = kToken,
                    std::string_view body = {}) {
    const std::string authority = "127.0.0.1:" + std::to_string(proxy.process().admin_port());
    std::string raw =
        std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (!token.empty()) raw += "Authorization: Bearer " + std::string(token) + "\r\n";
    if (!body.empty() || method == "POST") {
      raw += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    raw += "Connection: close\r\n\r\n" + std::string(body);
    return send_via_proxy(proxy.process().admin_port(), raw);
  }

  json get_json(std::string_view path, std::string_view token = kToken) {
    const HttpResponse r = call("GET", path, token);
    INFO(path << ": " << r.head << r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  HttpResponse pay(std::string_view path) {
    return get_via_proxy(proxy.port(), merchant.authority(), path);
  }

  // Opens an approval by asking for a route the review rule holds; its id.
  std::string open_approval() {
    const HttpResponse r = pay("/v2/expensive");
    REQUIRE(r.status == 403);
    const json body = json::parse(r.body);
    REQUIRE(body["code"] == "review_required");
    return body.value("approval_id", "");
  }
};

json body_of(const HttpResponse& r) {
  INFO(r.head << r.body);
  auto parsed = json::parse(r.body, nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  return parsed;
}

// Runs one statement on the ledger file directly, as someone with the file would.
void tamper(const std::string& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  char* error = nullptr;
  const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error);
  INFO((error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("every /v1/ endpoint needs the token and answers bad requests by their kind") {
  Admin a;
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/v1/approvals"},
      {"GET", "/v1/approvals/apr_x"},
      {"POST", "/v1/approvals/apr_x/approve"},
      {"POST", "/v1/approvals/apr_x/deny"},
      {"GET", "/v1/receipts"},
      {"GET", "/v1/receipts/rcpt_1_x"},
      {"GET", "/v1/decisions"},
      {"GET", "/v1/spend"},
      {"GET", "/v1/merchants/observed"},
      {"GET", "/v1/attempts?state=unknown"},
      {"POST", "/v1/attempts/1/reconcile"},
      {"POST", "/v1/policy/reload"},
      {"GET", "/v1/policy"},
      {"GET", "/v1/audit"},
  };
  for (const auto& [method, path] : endpoints) {
    CAPTURE(path);
    const HttpResponse anonymous = a.call(method, path, "");
    CHECK(anonymous.status == 401);
    CHECK(anonymous.header("www-authenticate").has_value());
    CHECK(a.call(method, path, "wrong-token").status == 401);
    // The other method: 405 naming the allowed one.
    const HttpResponse wrong = a.call(method == "GET" ? "POST" : "GET", path);
    CHECK(wrong.status == 405);
    CHECK(wrong.header("allow").value_or("").find(method) != std::string::npos);
  }
  // Both tokens are accepted.
  CHECK(a.call("GET", "/v1/spend", kAliceToken).status == 200);
  CHECK(a.call("GET", "/v1/spend", kToken).status == 200);

  // Unknown ids: 404.
  CHECK(a.call("GET", "/v1/approvals/apr_00000000000000000000000000000000").status == 404);
  CHECK(a.call("POST", "/v1/approvals/apr_nothing/approve", kToken, "{}").status == 404);
  CHECK(a.call("POST", "/v1/approvals/apr_nothing/deny", kToken, R"({"reason":"no"})").status ==
        404);
  CHECK(a.call("GET", "/v1/receipts/rcpt_9_0123456789abcdef").status == 404);
  CHECK(a.call("POST", "/v1/attempts/999/reconcile", kToken,
               R"({"outcome":"failed","reason":"never paid"})")
            .status == 404);
  CHECK(a.call("POST", "/v1/attempts/nonsense/reconcile", kToken,
               R"({"outcome":"failed","reason":"x"})")
            .status == 404);
  CHECK(a.call("GET", "/v1/nothing").status == 404);

  // Bad JSON and bad parameters: 400 naming what is wrong.
  const HttpResponse bad_json = a.call("POST", "/v1/approvals/apr_x/approve", kToken, "{not json");
  CHECK(bad_json.status == 400);
  CHECK(body_of(bad_json)["error"].get<std::string>().find("JSON") != std::string::npos);
  CHECK(a.call("POST", "/v1/approvals/apr_x/deny", kToken, "[1,2]").status == 400);
  CHECK(a.call("POST", "/v1/approvals/apr_x/deny", kToken, R"({"reason": 7})").status == 400);
  CHECK(a.call("POST", "/v1/attempts/1/reconcile", kToken, "{").status == 400);
  CHECK(a.call("POST", "/v1/attempts/1/reconcile", kToken, R"({"outcome":"maybe"})").status == 400);
  CHECK(a.call("POST", "/v1/attempts/1/reconcile", kToken, R"({"outcome":"failed"})").status ==
        400);
  const HttpResponse bad_limit = a.call("GET", "/v1/receipts?limit=0");
  CHECK(bad_limit.status == 400);
  CHECK(body_of(bad_limit)["error"].get<std::string>().find("limit") != std::string::npos);
  CHECK(a.call("GET", "/v1/attempts?state=sideways").status == 400);
  CHECK(a.call("GET", "/v1/decisions?outcome=perhaps").status == 400);
  CHECK(a.call("GET", "/v1/receipts?since=yesterday").status == 400);
}

TEST_CASE("without a wallet the ledger endpoints answer 503") {
  ProxyProcess proxy({}, {std::string("FLOW402_ADMIN_TOKEN=") + kToken});
  const std::string authority = "127.0.0.1:" + std::to_string(proxy.admin_port());
  const HttpResponse r = get_via_proxy(proxy.admin_port(), authority, "/v1/receipts",
                                       "Authorization: Bearer " + std::string(kToken) + "\r\n");
  CHECK(r.status == 503);
  CHECK(body_of(r)["error"].get<std::string>().find("ledger") != std::string::npos);
}

TEST_CASE("a review opens a pending approval; approve and deny decide it, audited by name") {
  Admin a(review_policy());
  const std::string id = a.open_approval();
  REQUIRE_FALSE(id.empty());

  const json list = a.get_json("/v1/approvals");
  REQUIRE(list["items"].size() == 1);
  CHECK(list["next"].is_null());
  const json& pending = list["items"][0];
  CHECK(pending["id"] == id);
  CHECK(pending["state"] == "pending");
  CHECK(pending["agent"] == "test-agent");
  CHECK(pending["rule"] == "review.amount_over");
  CHECK(pending["offer"]["amount"] == "5000000");
  CHECK(pending["offer"]["symbol"] == "USDC");
  CHECK(pending["offer"]["display"] == "5 USDC");
  CHECK(pending["held"] == 0);
  CHECK(pending["resolved_at"].is_null());
  CHECK(pending["expires_at_ms"].get<std::int64_t>() >
        pending["created_at_ms"].get<std::int64_t>());
  CHECK(a.get_json("/v1/approvals/" + id)["state"] == "pending");

  SUBCASE("approve, then approve again: 409 with the state") {
    const HttpResponse approved =
        a.call("POST", "/v1/approvals/" + id + "/approve", kAliceToken, R"({"note":"ok by me"})");
    CHECK(approved.status == 200);
    const json body = body_of(approved);
    CHECK(body["state"] == "approved");
    CHECK(body["resolved_by"] == "alice");
    CHECK(body["note"] == "ok by me");
    CHECK_FALSE(body["resolved_at"].is_null());
    CHECK(a.get_json("/v1/approvals/" + id)["state"] == "approved");
    CHECK(a.get_json("/v1/approvals")["items"].empty());

    const HttpResponse again = a.call("POST", "/v1/approvals/" + id + "/approve");
    CHECK(again.status == 409);
    CHECK(body_of(again)["state"] == "approved");
    const HttpResponse deny_after =
        a.call("POST", "/v1/approvals/" + id + "/deny", kToken, R"({"reason":"too late"})");
    CHECK(deny_after.status == 409);

    const json audit = a.get_json("/v1/audit");
    REQUIRE(audit["items"].size() == 1);  // refusals change nothing and are not actions
    CHECK(audit["items"][0]["action"] == "approve");
    CHECK(audit["items"][0]["actor"] == "alice");
    CHECK(audit["items"][0]["subject"] == id);
    CHECK(audit["items"][0]["detail"]["note"] == "ok by me");
    CHECK(audit["chain"]["ok"] == true);
    CHECK(audit["chain"]["rows_checked"] == 1);
  }
  SUBCASE("deny with a reason") {
    const HttpResponse denied =
        a.call("POST", "/v1/approvals/" + id + "/deny", kToken, R"({"reason":"not this one"})");
    CHECK(denied.status == 200);
    const json body = body_of(denied);
    CHECK(body["state"] == "denied");
    CHECK(body["resolved_by"] == "env");
    CHECK(body["note"] == "not this one");
    const json audit = a.get_json("/v1/audit");
    REQUIRE(audit["items"].size() == 1);
    CHECK(audit["items"][0]["action"] == "deny");
    CHECK(audit["items"][0]["actor"] == "env");
    CHECK(audit["items"][0]["detail"]["reason"] == "not this one");
  }
  // The decision the review came from is listed with the approval it opened.
  const json decisions = a.get_json("/v1/decisions?outcome=review");
  REQUIRE(decisions["items"].size() == 1);
  CHECK(decisions["items"][0]["reason"] == "review_required");
  CHECK(decisions["items"][0]["approval_id"] == id);
  CHECK(a.get_json("/v1/decisions?outcome=allow")["items"].empty());

  const HttpResponse text = a.call("GET", "/metrics");
  REQUIRE(text.status == 200);
  const json m = parse_metrics(text.body);
  CHECK(m["flow402_policy_decisions_total{decision=review,reason=review_required}"] == 1);
  CHECK(m.value("flow402_approvals{state=pending}", 0.0) +
            m.value("flow402_approvals{state=approved}", 0.0) +
            m.value("flow402_approvals{state=denied}", 0.0) ==
        1);
}

TEST_CASE("approving an approval past its expiry is refused 409 expired") {
  Admin a(review_policy("  approval_ttl: 1s\n"));
  const std::string id = a.open_approval();
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  const HttpResponse late = a.call("POST", "/v1/approvals/" + id + "/approve");
  CHECK(late.status == 409);
  CHECK(body_of(late)["state"] == "expired");
  CHECK(a.get_json("/v1/approvals/" + id)["state"] == "expired");
  CHECK(a.get_json("/v1/audit")["items"].empty());
}

TEST_CASE("an unknown payment is listed and reconciled settled or failed, with its receipt") {
  Admin a;
  // The merchant answers every paid retry with another 402: each payment's outcome is unknown.
  REQUIRE(a.pay("/v2/always-402").status == 402);
  REQUIRE(a.pay("/v2/always-402").status == 402);
  const json unknown = a.get_json("/v1/attempts?state=unknown");
  REQUIRE(unknown["items"].size() == 2);
  const std::int64_t newest = unknown["items"][0]["id"];
  const std::int64_t oldest = unknown["items"][1]["id"];
  CHECK(newest > oldest);
  CHECK(unknown["items"][0]["failure_code"] == "payment_outcome_unknown");
  // Paging: one at a time, the cursor leads to the other.
  const json first = a.get_json("/v1/attempts?state=unknown&limit=1");
  REQUIRE(first["items"].size() == 1);
  REQUIRE(first["next"].is_string());
  const json second =
      a.get_json("/v1/attempts?state=unknown&limit=1&after=" + first["next"].get<std::string>());
  REQUIRE(second["items"].size() == 1);
  CHECK(second["items"][0]["id"] == oldest);
  CHECK(second["next"].is_null());

  const HttpResponse settled =
      a.call("POST", "/v1/attempts/" + std::to_string(oldest) + "/reconcile", kAliceToken,
             R"({"outcome":"settled","evidence":"tx 0xabc seen on chain"})");
  CHECK(settled.status == 200);
  const json receipt = body_of(settled);
  CHECK(receipt["state"] == "settled");
  CHECK(receipt["attempt_id"] == oldest);
  CHECK(receipt["evidence"] == "tx 0xabc seen on chain");

  const HttpResponse failed =
      a.call("POST", "/v1/attempts/" + std::to_string(newest) + "/reconcile", kToken,
             R"({"outcome":"failed","reason":"the merchant says it never settled"})");
  CHECK(failed.status == 200);
  CHECK(body_of(failed)["state"] == "failed");
  CHECK(body_of(failed)["failure_code"] == "reconciled_failed");
  CHECK(body_of(failed)["failure_reason"] == "the merchant says it never settled");

  // Reconciled once: a second time is 409 with the state it is in.
  const HttpResponse again = a.call("POST", "/v1/attempts/" + std::to_string(oldest) + "/reconcile",
                                    kToken, R"({"outcome":"failed","reason":"changed my mind"})");
  CHECK(again.status == 409);
  CHECK(body_of(again)["state"] == "settled");
  CHECK(a.get_json("/v1/attempts?state=unknown")["items"].empty());
  CHECK(a.get_json("/v1/attempts?state=settled")["items"].size() == 1);

  // The lists say what the ledger CLI prints: receipts newest first, spend the same object.
  const json cli = a.proxy.receipts();
  json api = a.get_json("/v1/receipts")["items"];
  REQUIRE(api.size() == cli.size());
  for (std::size_t i = 0; i < api.size(); ++i) CHECK(api[i] == cli[cli.size() - 1 - i]);
  CHECK(a.get_json("/v1/spend?totals=1") == a.proxy.spend());
  // Without totals: the caps alone, as a dashboard polls them.
  const json caps_only = a.get_json("/v1/spend");
  CHECK(caps_only["caps"] == a.proxy.spend()["caps"]);
  CHECK_FALSE(caps_only.contains("by_agent"));
  CHECK_FALSE(caps_only.contains("by_merchant"));
  const std::string receipt_id = receipt["receipt_id"];
  CHECK(a.get_json("/v1/receipts/" + receipt_id)["receipt_id"] == receipt_id);
  CHECK(a.get_json("/v1/receipts/" + receipt_id)["superseded_by"].is_null());
  // The attempt's earlier (unknown) receipt names the reconciled one, as in the list.
  for (const auto& row : cli) {
    if (row["attempt_id"] == oldest && row["state"] == "unknown") {
      const json earlier = a.get_json("/v1/receipts/" + row["receipt_id"].get<std::string>());
      CHECK(earlier == row);
      CHECK(earlier["superseded_by"] == receipt_id);
    }
  }
  CHECK(a.get_json("/v1/receipts?state=failed")["items"].size() == 1);
  CHECK(a.get_json("/v1/receipts?agent=nobody")["items"].empty());

  const json audit = a.get_json("/v1/audit");
  REQUIRE(audit["items"].size() == 2);
  CHECK(audit["items"][0]["action"] == "reconcile");
  CHECK(audit["items"][0]["actor"] == "env");
  CHECK(audit["items"][0]["subject"] == std::to_string(newest));
  CHECK(audit["items"][1]["actor"] == "alice");
  CHECK(audit["items"][1]["detail"]["outcome"] == "settled");
  CHECK(audit["chain"]["ok"] == true);

  const json merchants = a.get_json("/v1/merchants/observed");
  REQUIRE(merchants["items"].size() == 1);
  CHECK(merchants["items"][0]["challenges"] == 2);
  // What it asks: the last offer policy decided on.
  CHECK(merchants["items"][0]["last_offer"]["display"] == "0.01 USDC");
  CHECK(merchants["items"][0]["last_offer"]["amount"] == "10000");

  // The metrics count from the ledger: 402s by merchant, decisions by reason, money settled.
  const HttpResponse text = a.call("GET", "/metrics");
  REQUIRE(text.status == 200);
  const json m = parse_metrics(text.body);
  const std::string origin = merchants["items"][0]["origin"];
  CHECK(m["flow402_merchant_challenges_total{merchant=" + origin + "}"] == 2);
  CHECK(m["flow402_merchant_challenges_total{merchant=other}"] == 0);
  CHECK(m["flow402_policy_decisions_total{decision=allow,reason=allowed}"] == 2);
  CHECK(m["flow402_paid_atomic_total{asset=USDC,network=eip155:8453}"] == 10000);
  CHECK(m["flow402_approvals_held"] == 0);
}

TEST_CASE("the audit chain catches a row changed behind the proxy's back") {
  Admin a(review_policy());
  const std::string first = a.open_approval();
  REQUIRE(a.call("POST", "/v1/approvals/" + first + "/deny", kToken, R"({"reason":"no"})").status ==
          200);
  REQUIRE(a.call("POST", "/v1/policy/reload").status == 200);
  json audit = a.get_json("/v1/audit");
  REQUIRE(audit["items"].size() == 2);
  REQUIRE(audit["chain"]["ok"] == true);

  // The append-only guard is a trigger; whoever can drop it can edit, and the chain says so.
  tamper(a.proxy.db(),
         "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE seq = 1;");
  audit = a.get_json("/v1/audit");
  CHECK(audit["chain"]["ok"] == false);
  CHECK(audit["chain"]["first_bad_seq"] == 1);
  CHECK(audit["chain"]["problem"] == "hash_mismatch");
}

TEST_CASE("the policy is shown and reloaded through the API, the reload audited") {
  Admin a;
  const json shown = a.get_json("/v1/policy");
  CHECK(shown["path"] == a.proxy.config());
  REQUIRE(shown["summary"].is_array());
  std::string text;
  for (const auto& line : shown["summary"]) text += line.get<std::string>() + "\n";
  CHECK(text.find("test-agent") != std::string::npos);

  const HttpResponse reloaded = a.call("POST", "/v1/policy/reload", kAliceToken);
  CHECK(reloaded.status == 200);
  const json result = body_of(reloaded);
  CHECK(result["applied"] == true);
  CHECK(result["errors"].empty());

  // A file that does not validate: not applied, the errors say why.
  write_text_file(a.proxy.config(), "version: 1\norganization: [\n");
  const HttpResponse refused = a.call("POST", "/v1/policy/reload");
  CHECK(refused.status == 200);
  const json refusal = body_of(refused);
  CHECK(refusal["applied"] == false);
  CHECK_FALSE(refusal["errors"].empty());

  const json audit = a.get_json("/v1/audit?action=policy_reload");
  REQUIRE(audit["items"].size() == 2);
  CHECK(audit["items"][0]["actor"] == "env");
  CHECK(audit["items"][0]["detail"]["applied"] == false);
  CHECK(audit["items"][1]["actor"] == "alice");
  CHECK(audit["items"][1]["detail"]["applied"] == true);
}

TEST_CASE("admin.tokens files are checked like admin.token_file, and names need their own token") {
  TempDir dir;
  const std::string config = dir.file("flow.yaml");
  write_text_file(config,
                  "version: 1\nadmin:\n  token_file: a.token\n  tokens:\n"
                  "    - {name: bob, file: b.token}\n");
  write_text_file(dir.file("a.token"), "same-token-123456\n");
  write_text_file(dir.file("b.token"), "same-token-123456\n");
  REQUIRE(::chmod(dir.file("a.token").c_str(), 0600) == 0);
  REQUIRE(::chmod(dir.file("b.token").c_str(), 0644) == 0);
  const auto check = [&] {
    return run_command({flow_binary(), "check", config}, std::chrono::seconds(20));
  };
  const CommandResult readable = check();
  CHECK(readable.status.code == 2);
  CHECK(readable.err.find("b.token") != std::string::npos);
  CHECK(readable.err.find("chmod 600") != std::string::npos);

  REQUIRE(::chmod(dir.file("b.token").c_str(), 0600) == 0);
  const CommandResult shared = check();
  CHECK(shared.status.code == 2);
  CHECK(shared.err.find("same token") != std::string::npos);

  write_text_file(dir.file("b.token"), "bobs-own-token-123456\n");
  CHECK(check().status.code == 0);
}

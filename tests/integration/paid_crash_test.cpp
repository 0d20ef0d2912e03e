// kill -9 of the proxy at each stage of a payment (FLOW402_TEST_STOP_AT makes it SIGSTOP itself
// there), then a restart on the same ledger: the ledger explains the attempt, the receipt chain
// verifies, the merchant was paid at most once, and the agent's retry with the same
// Idempotency-Key never pays a second time.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "flow/storage/ledger.hpp"
#include "proxy_expectations.hpp"
#include "support/client_connection.hpp"
#include "support/merchant_process.hpp"
#include "support/paid_proxy.hpp"

using namespace flow::testing;
using nlohmann::json;

namespace {

constexpr std::string_view kRoute = "/v2/weather";
constexpr std::string_view kAgent = "test-agent";

// The state letter of /proc/<pid>/stat ('T' once the process stopped itself).
char process_state(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

bool wait_until_stopped(pid_t pid, Deadline deadline) {
  while (Clock::now() < deadline) {
    if (process_state(pid) == 'T') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling /proc
  }
  return false;
}

// The proxy writes its log in batches: wait (bounded) for `text` to appear in it.
bool proxy_logged(PaidProxy& proxy, std::string_view text) {
  const Deadline deadline = default_deadline();
  while (proxy.process().stderr_text().find(text) == std::string::npos) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the log file
  }
  return true;
}

std::optional<flow::storage::Attempt> attempt_for(const std::string& db, std::string_view key) {
  flow::storage::LedgerOptions o;
  o.path = db;
  o.mode = flow::storage::OpenMode::shared;
  o.create_if_missing = false;
  flow::storage::Ledger ledger(o);
  auto found = ledger.find_attempt(kAgent, key);
  REQUIRE(found.ok());
  return found.value();
}

std::string held_amount(PaidProxy& proxy) {
  const json spend = proxy.spend();
  if (spend["caps"].empty()) return "0";  // no payment ever reserved against the budget
  REQUIRE(spend["caps"].size() == 1);
  return spend["caps"][0]["held_amount"];
}

std::string request(const MerchantProcess& merchant, std::string_view key) {
  return proxied_request("GET", merchant.authority(), kRoute,
                         "Idempotency-Key: " + std::string(key) + "\r\n");
}

struct Crash {
  MerchantProcess merchant;
  PaidProxy proxy;
  std::string key;

  explicit Crash(std::string_view stage) : proxy(options()), key("crash-" + std::string(stage)) {
    proxy.start({"FLOW402_TEST_STOP_AT=" + std::string(stage)});
    // The agent's request; the proxy stops itself at `stage` and never answers it.
    ClientConnection client(proxy.port());
    client.send(request(merchant, key));
    const pid_t pid = proxy.pid();
    REQUIRE_MESSAGE(wait_until_stopped(pid, default_deadline()),
                    "the proxy never stopped at " << stage << "; stderr:\n"
                                                  << proxy.process().stderr_text());
    proxy.kill();
    proxy.start();
  }

  static PaidProxyOptions options() {
    PaidProxyOptions o;
    o.policy = policy_with_budget();
    o.autostart = false;
    return o;
  }

  json receipts_with_key() const {
    json out = json::array();
    for (const auto& r : proxy.receipts()) {
      if (r["idempotency_key"] == key) out.push_back(r);
    }
    return out;
  }

  void check_chain() {
    const CommandResult verify = proxy.verify();
    CHECK_MESSAGE(verify.status.exited, verify.status.describe());
    CHECK_MESSAGE(verify.status.code == 0, verify.out << verify.err);
  }

  HttpResponse retry() { return send_via_proxy(proxy.port(), request(merchant, key)); }
};

// After the restart, an attempt that had a credential is unknown, listed, its budget held.
void check_recovered_unknown(Crash& c) {
  const auto attempt = attempt_for(c.proxy.db(), c.key);
  REQUIRE(attempt.has_value());
  CHECK(attempt->state == flow::storage::AttemptState::unknown);
  CHECK(attempt->failure_reason.find("interrupted") != std::string::npos);
  CHECK(attempt->failure_code == flow::payment::Reason::payment_interrupted);
  CHECK_FALSE(attempt->credential_ref.empty());
  const json receipts = c.receipts_with_key();
  REQUIRE(receipts.size() == 1);
  CHECK(receipts[0]["state"] == "unknown");
  CHECK(held_amount(c.proxy) == "10000");
  CHECK(proxy_logged(c.proxy, "ledger recovery"));
  c.check_chain();
}

// The unknown receipt and the settled one of the same attempt: the JSON keeps both, the first
// naming the second (superseded_by); the table shows the attempt once (its settled receipt),
// and every receipt only with --all.
void check_one_line_per_attempt(Crash& c, std::int64_t attempt_id) {
  const json receipts = c.receipts_with_key();
  REQUIRE(receipts.size() == 2);
  CHECK(receipts[0]["state"] == "unknown");
  CHECK(receipts[0]["superseded_by"] == receipts[1]["receipt_id"]);
  CHECK(receipts[1]["state"] == "settled");
  CHECK(receipts[1]["superseded_by"].is_null());
  const std::string attempt = "  " + std::to_string(attempt_id) + "  ";
  const CommandResult table = c.proxy.ledger_command({"receipts"});
  INFO(table.out << table.err);
  CHECK(table.status.code == 0);
  CHECK(table.out.find(attempt) != std::string::npos);
  CHECK(table.out.find(receipts[1]["receipt_id"].get<std::string>()) != std::string::npos);
  CHECK(table.out.find(receipts[0]["receipt_id"].get<std::string>()) == std::string::npos);
  CHECK(table.out.find("1 earlier receipt(s) of the same attempts not shown") != std::string::npos);
  const CommandResult all = c.proxy.ledger_command({"receipts", "--all"});
  INFO(all.out);
  CHECK(all.out.find(receipts[0]["receipt_id"].get<std::string>()) != std::string::npos);
  CHECK(all.out.find("unknown (superseded)") != std::string::npos);
}

// The retry resends the very credential the crashed proxy signed, which the merchant settles
// once (or had already settled: then it answers its earlier success).
void check_retry_settles_once(Crash& c) {
  const auto before = attempt_for(c.proxy.db(), c.key);
  REQUIRE(before.has_value());
  const HttpResponse r = c.retry();
  INFO(r.head << r.body);
  CHECK(r.status == 200);
  CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
  const json book = merchant_book(c.merchant);
  REQUIRE(book.size() == 1);
  CHECK(book[0]["payer"] == c.proxy.wallet_address());
  const auto after = attempt_for(c.proxy.db(), c.key);
  REQUIRE(after.has_value());
  CHECK(after->id == before->id);
  CHECK(after->state == flow::storage::AttemptState::settled);
  CHECK(after->credential_sha256 == before->credential_sha256);
  CHECK(after->settlement_ref == book[0]["transaction"]);
  CHECK(held_amount(c.proxy) == "10000");  // settled: counted once, not twice
  check_one_line_per_attempt(c, after->id);
  c.check_chain();
  // And once settled, the same key is answered with its receipt.
  const HttpResponse again = c.retry();
  CHECK(again.status == 409);
  CHECK(header_or_absent(again, "x-402flow-error") == "already_paid");
  CHECK(merchant_book(c.merchant).size() == 1);
}

}  // namespace

TEST_CASE(
    "killed at the reservation, before any credential left: nothing is paid or held, "
    "and the retry pays at most once") {
  Crash c("reserved");
  CHECK(merchant_book(c.merchant).empty());
  CHECK(c.receipts_with_key().empty());
  CHECK(held_amount(c.proxy) == "0");
  c.check_chain();
  const auto attempt = attempt_for(c.proxy.db(), c.key);
  if (attempt) {
    // The reservation was committed on its own: recovery released it, and the key is spent
    // (no credential ever existed); the agent is told to use a new one.
    CHECK(attempt->state == flow::storage::AttemptState::released);
    CHECK(attempt->credential_ref.empty());
    CHECK(proxy_logged(c.proxy, "reservation(s) released"));
    const HttpResponse r = c.retry();
    CHECK(r.status == 409);
    CHECK(header_or_absent(r, "x-402flow-error") == "idempotency_key_used");
    CHECK(merchant_book(c.merchant).empty());
    CHECK(held_amount(c.proxy) == "0");
  } else {
    // The reservation and the signature commit together, and the process died before that
    // commit: the ledger never held the attempt, so the retry is a first payment.
    const HttpResponse r = c.retry();
    INFO(r.head << r.body);
    CHECK(r.status == 200);
    CHECK(header_or_absent(r, "x-402flow-payment-state") == "settled");
    CHECK(merchant_book(c.merchant).size() == 1);
    CHECK(held_amount(c.proxy) == "10000");
    const HttpResponse again = c.retry();
    CHECK(again.status == 409);
    CHECK(header_or_absent(again, "x-402flow-error") == "already_paid");
    CHECK(merchant_book(c.merchant).size() == 1);
  }
}

TEST_CASE(
    "killed after the signature was recorded, before it was sent: unknown at restart; the "
    "retry sends that same credential and it settles once") {
  Crash c("signed");
  CHECK(merchant_book(c.merchant).empty());  // it never left the process
  check_recovered_unknown(c);
  check_retry_settles_once(c);
}

TEST_CASE(
    "killed right after the paid request was written: unknown at restart; the retry "
    "never pays twice") {
  Crash c("sent");
  CHECK(merchant_book(c.merchant).size() <= 1);
  check_recovered_unknown(c);
  check_retry_settles_once(c);
}

TEST_CASE(
    "killed after the merchant's answer arrived, before the receipt: unknown at restart; "
    "the retry gets the merchant's answer to the same credential, not a second payment") {
  Crash c("answered");
  CHECK(merchant_book(c.merchant).size() == 1);
  check_recovered_unknown(c);
  check_retry_settles_once(c);
}

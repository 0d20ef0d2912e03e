// Shared helpers for the storage unit tests: a temp directory, a settable clock, intents and
// caps, and raw SQL access for tampering.
#pragma once
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "flow/policy/cap_check.hpp"
#include "flow/storage/ledger.hpp"

namespace flow::storage::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "402flow-ledger-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// 2026-01-01T00:00:00Z; tests move it explicitly.
inline constexpr std::int64_t kStartMs = 1'767'225'600'000;

struct FakeClock {
  std::shared_ptr<std::atomic<std::int64_t>> ms =
      std::make_shared<std::atomic<std::int64_t>>(kStartMs);
  std::function<std::int64_t()> fn() const {
    return [now = ms] { return now->load(); };
  }
  void set_ms(std::int64_t value) { ms->store(value); }
  void set_s(std::int64_t seconds) { ms->store(seconds * 1000); }
  std::int64_t seconds() const { return ms->load() / 1000; }
};

inline LedgerOptions options_for(const std::string& path, OpenMode mode = OpenMode::shared,
                                 const FakeClock* clock = nullptr) {
  LedgerOptions o;
  o.path = path;
  o.mode = mode;
  o.busy_timeout = std::chrono::milliseconds(60'000);
  if (clock != nullptr) o.clock_ms = clock->fn();
  return o;
}

inline PaymentIntent make_intent(const std::string& key, payment::Atomic amount,
                                 const std::string& agent = "alice",
                                 const std::string& origin = "https://api.example.com") {
  PaymentIntent in;
  in.agent = agent;
  in.idempotency_key = key;
  in.merchant_origin = origin;
  in.method = "GET";
  in.url = origin + "/v1/quote";
  in.offer.protocol = "x402";
  in.offer.protocol_version = 2;
  in.offer.scheme = "exact";
  in.offer.network = "eip155:8453";
  in.offer.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  in.offer.amount = amount;
  in.offer.pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
  in.offer.resource = in.url;
  in.decimals = 6;
  in.decision_id = "dec_test";
  in.rule = "agents[" + agent + "]";
  return in;
}

inline policy::CapCheck amount_cap(const std::string& key, payment::Atomic max,
                                   std::int64_t window_start = 0,
                                   policy::ReasonCode reason = policy::ReasonCode::over_agent_cap,
                                   const std::string& rule = "agents[alice].caps.daily") {
  policy::CapCheck c;
  c.counter_key = key;
  c.rule = rule;
  c.reason = reason;
  c.window_start = window_start;
  c.max_amount = max;
  return c;
}

inline policy::CapCheck count_cap(const std::string& key, std::uint64_t max,
                                  std::int64_t window_start = 0,
                                  policy::ReasonCode reason = policy::ReasonCode::over_agent_cap,
                                  const std::string& rule = "agents[alice].caps.daily") {
  policy::CapCheck c;
  c.counter_key = key;
  c.rule = rule;
  c.reason = reason;
  c.window_start = window_start;
  c.max_count = max;
  return c;
}

// A separate raw connection, as an attacker or an operator with sqlite3 would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw open failed");
    }
    sqlite3_busy_timeout(db_, 10'000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // SQLITE_OK or the error code; the message is kept in last_error().
  int exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    last_error_ = err != nullptr ? err : "";
    sqlite3_free(err);
    return rc;
  }
  void must(const std::string& sql) {
    if (exec(sql) != SQLITE_OK) throw std::runtime_error(sql + ": " + last_error_);
  }
  std::int64_t integer(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::int64_t value = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return value;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return value;
  }
  const std::string& last_error() const { return last_error_; }

 private:
  sqlite3* db_ = nullptr;
  std::string last_error_;
};

// Unwraps a Result in a test, failing with the ledger's reason if there is none.
template <class T>
T ok(Result<T> r) {
  if (!r.ok()) throw std::runtime_error("ledger error: " + r.error().describe());
  return std::move(r).value();
}
inline void ok(Result<void> r) {
  if (!r.ok()) throw std::runtime_error("ledger error: " + r.error().describe());
}

// Reserves and returns the new attempt (throws unless the status is `reserved`).
inline Attempt reserve_new(Ledger& ledger, const PaymentIntent& intent,
                           const std::vector<policy::CapCheck>& caps = {}) {
  ReserveOutcome outcome = ok(ledger.reserve(intent, caps));
  if (outcome.status != ReserveStatus::reserved) throw std::runtime_error("not reserved");
  return *outcome.attempt;
}

inline SignedDetails signed_details() {
  return SignedDetails{"0x1111111111111111111111111111111111111111", "nonce:0xabc",
                       std::string(64, 'a')};
}

inline Outcome settled_outcome() {
  Outcome o;
  o.state = AttemptState::settled;
  o.settlement_ref = "0xfeed";
  o.evidence = R"({"success":true,"transaction":"0xfeed"})";
  o.http_status = 200;
  return o;
}

// A failed or unknown outcome carries a code (payment_refused / payment_outcome_unknown), as the
// proxy's do; a settled one none.
inline Outcome outcome_of(AttemptState state, std::string reason = {}) {
  Outcome o;
  o.state = state;
  if (state == AttemptState::failed) o.failure_code = payment::Reason::payment_refused;
  if (state == AttemptState::unknown) o.failure_code = payment::Reason::payment_outcome_unknown;
  o.failure_reason = std::move(reason);
  return o;
}

}  // namespace flow::storage::testing

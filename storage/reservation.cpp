#include "reservation.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "attempt_store.hpp"
#include "flow/payment/amount.hpp"

namespace flow::storage::reservation {
namespace {

using payment::Atomic;
constexpr std::int64_t kEndOfTime = std::numeric_limits<std::int64_t>::max();

bool add_checked(Atomic a, Atomic b, Atomic& sum) {
  if (a > ~Atomic{0} - b) return false;
  sum = a + b;
  return true;
}

// "(a.state = 'reserved' OR ...)" built from holds_money(), so the SQL and the C++ cannot
// disagree about which states count. An OR chain, not IN: SQLite builds an ephemeral table for
// an IN list of more than two constants each time the statement runs.
const std::string& holds_money_sql() {
  static const std::string sql = [] {
    std::string terms;
    for (AttemptState s : all_attempt_states()) {
      if (!holds_money(s)) continue;
      terms += terms.empty() ? "(" : " OR ";
      terms += "a.state = '" + std::string(attempt_state_name(s)) + "'";
    }
    // A refused credential that may still be submitted holds money too (held_until).
    return terms + " OR a.held_until <> 0)";
  }();
  return sql;
}

struct CounterRow {
  std::int64_t window_start = 0;
  HeldTotals held;
};

Result<std::optional<CounterRow>> load_counter(LedgerContext& ctx, std::string_view key) {
  auto q = ctx.db.query(
      "SELECT window_start, held_amount, held_count FROM counters WHERE counter_key = ?1");
  q.bind(1, key);
  auto row = q.next();
  if (!row.ok()) return row.error();
  if (!row.value()) return std::optional<CounterRow>{};
  CounterRow c;
  c.window_start = q.int64(0);
  const auto amount = payment::parse_atomic(q.text(1));
  if (!amount.ok()) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        "counter " + std::string(key) + " has an unreadable held_amount");
  }
  c.held.amount = amount.value;
  c.held.count = static_cast<std::uint64_t>(std::max<std::int64_t>(q.int64(2), 0));
  return std::optional<CounterRow>(c);
}

std::int64_t clamp_count(std::uint64_t n) {
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(n, max));
}

// Records the cap's limits (for `402flow spend`) and the totals held in `window_start`.
Result<void> store_counter(LedgerContext& ctx, const policy::CapCheck& cap,
                           const PaymentIntent& intent, const HeldTotals& held) {
  auto q = ctx.db.query(
      "INSERT INTO counters (counter_key, rule, reason, max_amount, max_count, network, asset, "
      "decimals, window_start, held_amount, held_count, updated_at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (counter_key) DO UPDATE SET rule = excluded.rule, reason = excluded.reason, "
      "max_amount = excluded.max_amount, max_count = excluded.max_count, "
      "network = excluded.network, asset = excluded.asset, decimals = excluded.decimals, "
      "window_start = excluded.window_start, held_amount = excluded.held_amount, "
      "held_count = excluded.held_count, updated_at_ms = excluded.updated_at_ms");
  q.bind(1, cap.counter_key).bind(2, cap.rule).bind(3, payment::reason_name(cap.reason));
  if (cap.max_amount) {
    q.bind(4, payment::format_atomic(*cap.max_amount));
  } else {
    q.bind_null(4);
  }
  if (cap.max_count) {
    q.bind(5, clamp_count(*cap.max_count));
  } else {
    q.bind_null(5);
  }
  q.bind(6, intent.offer.network)
      .bind(7, intent.offer.asset)
      .bind(8, std::int64_t{intent.decimals})
      .bind(9, cap.window_start)
      .bind(10, payment::format_atomic(held.amount))
      .bind(11, clamp_count(held.count))
      .bind(12, ctx.now_ms);
  return q.run();
}

Result<void> store_totals(LedgerContext& ctx, std::string_view key, const CounterRow& row) {
  auto q = ctx.db.query(
      "UPDATE counters SET window_start = ?2, held_amount = ?3, held_count = ?4, "
      "updated_at_ms = ?5 WHERE counter_key = ?1");
  q.bind(1, key)
      .bind(2, row.window_start)
      .bind(3, payment::format_atomic(row.held.amount))
      .bind(4, clamp_count(row.held.count))
      .bind(5, ctx.now_ms);
  return q.run();
}

}  // namespace

// Held money in [window_start, end of time) for `key`, from the cached totals when they cover
// the same window, otherwise by moving the cached window forward (subtracting only the rows
// that fell out of it) or, when it moved back, by scanning. The counter row is not written
// here: the caller stores the result.
Result<HeldTotals> held_for_window(LedgerContext& ctx, std::string_view key,
                                   std::int64_t window_start) {
  auto cached = load_counter(ctx, key);
  if (!cached.ok()) return cached.error();
  if (!cached.value()) return scan_held(ctx, key, window_start, kEndOfTime);
  const CounterRow& row = *cached.value();
  if (row.window_start == window_start) return row.held;
  if (row.window_start > window_start) return scan_held(ctx, key, window_start, kEndOfTime);
  auto left = scan_held(ctx, key, row.window_start, window_start);
  if (!left.ok()) return left.error();
  const HeldTotals& gone = left.value();
  if (gone.amount > row.held.amount || gone.count > row.held.count) {
    // Cannot happen while every change goes through this file; the scan is authoritative.
    return scan_held(ctx, key, window_start, kEndOfTime);
  }
  return HeldTotals{row.held.amount - gone.amount, row.held.count - gone.count};
}

namespace {

// The first limit of `cap` that this payment would exceed, if any.
std::optional<CapRefusal> check_cap(const policy::CapCheck& cap, const HeldTotals& held,
                                    Atomic amount) {
  std::optional<CapLimit> exceeded;
  Atomic total = 0;
  if (cap.max_amount && (!add_checked(held.amount, amount, total) || total > *cap.max_amount)) {
    exceeded = CapLimit::amount;
  } else if (cap.max_count && held.count >= *cap.max_count) {
    exceeded = CapLimit::count;
  }
  if (!exceeded) return std::nullopt;
  return CapRefusal{cap.reason,  cap.rule,         cap.counter_key, *exceeded,
                    held.amount, held.count,       cap.max_amount,  cap.max_count,
                    cap.window,  cap.window_start, cap.resets_at};
}

Result<void> insert_reservation(LedgerContext& ctx, std::int64_t attempt_id, std::string_view key,
                                Atomic amount) {
  auto q = ctx.db.query(
      "INSERT INTO reservations (attempt_id, counter_key, created_at, amount) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
  q.bind(1, attempt_id).bind(2, key).bind(3, ctx.now_s()).bind(4, payment::format_atomic(amount));
  return q.run();
}

Result<void> validate(const PaymentIntent& intent, const std::vector<policy::CapCheck>& caps) {
  if (intent.agent.empty() || intent.idempotency_key.empty()) {
    return ledger_error(LedgerErrorCode::invalid_argument,
                        "a reservation needs an agent and an idempotency key");
  }
  for (const auto& cap : caps) {
    if (cap.counter_key.empty()) {
      return ledger_error(LedgerErrorCode::invalid_argument,
                          "a cap check without a counter key (rule " + cap.rule + ")");
    }
  }
  return {};
}

}  // namespace

Result<HeldTotals> scan_held(LedgerContext& ctx, std::string_view counter_key, std::int64_t from,
                             std::int64_t until) {
  static const std::string sql =
      "SELECT r.amount FROM reservations r JOIN attempts a ON a.id = r.attempt_id "
      "WHERE r.counter_key = ?1 AND r.created_at >= ?2 AND r.created_at < ?3 AND " +
      holds_money_sql();
  auto q = ctx.db.query(sql);
  q.bind(1, counter_key).bind(2, from).bind(3, until);
  HeldTotals held;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return held;
    const auto amount = payment::parse_atomic(q.text(0));
    if (!amount.ok()) {
      return ledger_error(
          LedgerErrorCode::storage_failed,
          "a reservation for " + std::string(counter_key) + " has an unreadable amount");
    }
    if (!add_checked(held.amount, amount.value, held.amount)) {
      return ledger_error(LedgerErrorCode::amount_overflow,
                          "money held for " + std::string(counter_key));
    }
    ++held.count;
  }
}

Result<ReserveOutcome> reserve(LedgerContext& ctx, const PaymentIntent& intent,
                               const std::vector<policy::CapCheck>& caps) {
  auto valid = validate(intent, caps);
  if (!valid.ok()) return valid.error();

  auto existing = attempt_store::find(ctx, intent.agent, intent.idempotency_key);
  if (!existing.ok()) return existing.error();
  if (existing.value()) {
    return ReserveOutcome{ReserveStatus::existing, std::move(existing.value()), std::nullopt};
  }

  const Atomic amount = intent.offer.amount;
  std::vector<HeldTotals> held;
  held.reserve(caps.size());
  for (const auto& cap : caps) {
    auto in_window = held_for_window(ctx, cap.counter_key, cap.window_start);
    if (!in_window.ok()) return in_window.error();
    held.push_back(in_window.value());
    if (auto refusal = check_cap(cap, held.back(), amount)) {
      // Keep what was learned (moved windows, current limits); nothing is reserved.
      for (std::size_t i = 0; i < held.size(); ++i) {
        auto stored = store_counter(ctx, caps[i], intent, held[i]);
        if (!stored.ok()) return stored.error();
      }
      return ReserveOutcome{ReserveStatus::refused, std::nullopt, std::move(refusal)};
    }
  }

  auto attempt = attempt_store::insert_reserved(ctx, intent);
  if (!attempt.ok()) return attempt.error();
  const std::int64_t created_at = ctx.now_s();
  for (std::size_t i = 0; i < caps.size(); ++i) {
    const auto& cap = caps[i];
    auto inserted = insert_reservation(ctx, attempt.value().id, cap.counter_key, amount);
    if (!inserted.ok()) return inserted.error();
    HeldTotals after = held[i];
    if (created_at >= cap.window_start) {
      if (!add_checked(after.amount, amount, after.amount)) {
        return ledger_error(LedgerErrorCode::amount_overflow, "money held for " + cap.counter_key);
      }
      ++after.count;
    }
    // Several caps may share a counter key: each stores totals computed from the same
    // pre-reservation row plus this payment, so the last write is as right as the first.
    auto stored = store_counter(ctx, cap, intent, after);
    if (!stored.ok()) return stored.error();
  }
  return ReserveOutcome{ReserveStatus::reserved, std::move(attempt).value(), std::nullopt};
}

Result<std::size_t> release_expired_holds(LedgerContext& ctx) {
  std::vector<std::int64_t> expired;
  {
    // Runs before every cap read: it must stay an index search, whatever the attempts table
    // holds. Without statistics SQLite prefers scanning the table in id order to sorting the
    // few due rows (a scan per payment, growing with the ledger); INDEXED BY pins the index, and
    // fails loudly if it is ever missing.
    auto q = ctx.db.query(
        "SELECT id FROM attempts INDEXED BY attempts_held_until "
        "WHERE held_until <> 0 AND held_until <= ?1 ORDER BY id");
    q.bind(1, ctx.now_s());
    for (;;) {
      auto row = q.next();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      expired.push_back(q.int64(0));
    }
  }
  for (const std::int64_t id : expired) {
    // The attempt stops counting first, so a rescan inside release_counters agrees.
    auto q = ctx.db.query("UPDATE attempts SET held_until = 0, updated_at_ms = ?2 WHERE id = ?1");
    q.bind(1, id).bind(2, ctx.now_ms);
    auto updated = q.run();
    if (!updated.ok()) return updated.error();
    auto released = release_counters(ctx, id);
    if (!released.ok()) return released.error();
  }
  return expired.size();
}

Result<void> release_counters(LedgerContext& ctx, std::int64_t attempt_id) {
  struct Row {
    std::string key;
    std::int64_t created_at;
    Atomic amount;
  };
  std::vector<Row> rows;
  {
    auto q = ctx.db.query(
        "SELECT counter_key, created_at, amount FROM reservations WHERE attempt_id = ?1");
    q.bind(1, attempt_id);
    for (;;) {
      auto row = q.next();
      if (!row.ok()) return row.error();
      if (!row.value()) break;
      const auto amount = payment::parse_atomic(q.text(2));
      if (!amount.ok()) {
        return ledger_error(
            LedgerErrorCode::storage_failed,
            "a reservation of attempt " + std::to_string(attempt_id) + " has an unreadable amount");
      }
      rows.push_back(Row{q.text(0), q.int64(1), amount.value});
    }
  }
  for (const Row& r : rows) {
    auto cached = load_counter(ctx, r.key);
    if (!cached.ok()) return cached.error();
    if (!cached.value() || r.created_at < cached.value()->window_start) continue;
    CounterRow next = *cached.value();
    if (next.held.amount >= r.amount && next.held.count >= 1) {
      next.held.amount -= r.amount;
      next.held.count -= 1;
    } else {
      // Cannot happen while every change goes through this file; the scan is authoritative.
      auto scanned = scan_held(ctx, r.key, next.window_start, kEndOfTime);
      if (!scanned.ok()) return scanned.error();
      next.held = scanned.value();
    }
    auto stored = store_totals(ctx, r.key, next);
    if (!stored.ok()) return stored.error();
  }
  return {};
}

}  // namespace flow::storage::reservation

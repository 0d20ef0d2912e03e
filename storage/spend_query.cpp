#include "spend_query.hpp"

#include <map>
#include <string>
#include <tuple>

#include "flow/payment/amount.hpp"
#include "flow/storage/attempt_state.hpp"

namespace flow::storage::spend_query {
namespace {

using payment::Atomic;

bool add_to(Atomic& total, Atomic amount) {
  if (total > ~Atomic{0} - amount) return false;
  total += amount;
  return true;
}

Result<std::vector<CounterTotals>> counters(LedgerContext& ctx) {
  auto q = ctx.db.query(
      "SELECT counter_key, rule, reason, network, asset, decimals, window_start, held_amount, "
      "held_count, max_amount, max_count, updated_at_ms FROM counters ORDER BY counter_key");
  std::vector<CounterTotals> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    CounterTotals c;
    c.counter_key = q.text(0);
    c.rule = q.text(1);
    c.reason = q.text(2);
    c.network = q.text(3);
    c.asset = q.text(4);
    c.decimals = static_cast<unsigned>(q.int64(5));
    c.window_start = q.int64(6);
    const auto held = payment::parse_atomic(q.text(7));
    const auto max = q.is_null(9) ? payment::AmountResult{} : payment::parse_atomic(q.text(9));
    if (!held.ok() || !max.ok()) {
      return ledger_error(LedgerErrorCode::storage_failed,
                          "counter " + c.counter_key + " has an unreadable amount");
    }
    c.held_amount = held.value;
    c.held_count = static_cast<std::uint64_t>(q.int64(8));
    if (!q.is_null(9)) c.max_amount = max.value;
    if (!q.is_null(10)) c.max_count = static_cast<std::uint64_t>(q.int64(10));
    c.updated_at_ms = q.int64(11);
    out.push_back(std::move(c));
  }
}

using Key = std::tuple<std::string, std::string, std::string>;  // subject, network, asset

Result<void> add(std::map<Key, SpendBySubject>& totals, const std::string& subject,
                 const std::string& network, const std::string& asset, unsigned decimals,
                 AttemptState state, Atomic amount) {
  SpendBySubject& t = totals[Key{subject, network, asset}];
  t.subject = subject;
  t.network = network;
  t.asset = asset;
  t.decimals = decimals;
  Atomic& bucket = state == AttemptState::settled   ? t.settled
                   : state == AttemptState::unknown ? t.unknown
                                                    : t.in_flight;
  if (!add_to(bucket, amount)) {
    return ledger_error(LedgerErrorCode::amount_overflow, "spend total for " + subject);
  }
  ++t.payments;
  return {};
}

std::vector<SpendBySubject> values(std::map<Key, SpendBySubject>& totals) {
  std::vector<SpendBySubject> out;
  out.reserve(totals.size());
  for (auto& [key, t] : totals) out.push_back(std::move(t));
  return out;
}

}  // namespace

Result<SpendReport> build(LedgerContext& ctx, bool with_totals) {
  SpendReport report;
  auto c = counters(ctx);
  if (!c.ok()) return c.error();
  report.counters = std::move(c).value();
  if (!with_totals) return report;

  std::map<Key, SpendBySubject> by_agent;
  std::map<Key, SpendBySubject> by_merchant;
  auto q = ctx.db.query(
      "SELECT agent, merchant_origin, network, asset, decimals, state, amount, held_until "
      "FROM attempts WHERE state NOT IN ('failed', 'released') OR held_until <> 0");
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    const auto state = attempt_state_from_name(q.text(5));
    const auto amount = payment::parse_atomic(q.text(6));
    if (!state || !amount.ok()) {
      return ledger_error(LedgerErrorCode::storage_failed, "an attempt row is unreadable");
    }
    // A refused credential still held until it expires counts as in flight.
    if (!holds_money(*state) && q.int64(7) == 0) continue;
    const std::string network = q.text(2);
    const std::string asset = q.text(3);
    const auto decimals = static_cast<unsigned>(q.int64(4));
    auto a = add(by_agent, q.text(0), network, asset, decimals, *state, amount.value);
    if (!a.ok()) return a.error();
    auto m = add(by_merchant, q.text(1), network, asset, decimals, *state, amount.value);
    if (!m.ok()) return m.error();
  }
  report.by_agent = values(by_agent);
  report.by_merchant = values(by_merchant);
  return report;
}

}  // namespace flow::storage::spend_query

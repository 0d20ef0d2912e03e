#include "ledger_tallies.hpp"

#include <map>
#include <tuple>

namespace flow::storage::ledger_tallies {
namespace {

std::uint64_t unsigned_of(std::int64_t v) {
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

Result<void> count_merchants(LedgerContext& ctx, std::size_t limit, LedgerTallies& out) {
  auto q = ctx.db.query(
      "SELECT origin, challenges FROM merchants ORDER BY challenges DESC, origin LIMIT ?1");
  q.bind(1, static_cast<std::int64_t>(limit));
  std::uint64_t listed = 0;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    out.challenges_by_merchant.push_back({q.text(0), unsigned_of(q.int64(1))});
    listed += unsigned_of(q.int64(1));
  }
  auto total = ctx.db.query("SELECT coalesce(sum(challenges), 0) FROM merchants");
  auto row = total.next();
  if (!row.ok()) return row.error();
  const std::uint64_t all = row.value() ? unsigned_of(total.int64(0)) : 0;
  out.other_challenges = all > listed ? all - listed : 0;
  return {};
}

Result<void> count_decisions(LedgerContext& ctx, LedgerTallies& out) {
  auto q = ctx.db.query("SELECT outcome, reason, count FROM decision_tallies ORDER BY 1, 2");
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return {};
    out.decisions.push_back({q.text(0), q.text(1), unsigned_of(q.int64(2))});
  }
}

Result<void> count_approvals(LedgerContext& ctx, LedgerTallies& out) {
  auto q = ctx.db.query("SELECT state, count(*) FROM approvals GROUP BY state ORDER BY state");
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return {};
    out.approvals_by_state.push_back({q.text(0), unsigned_of(q.int64(1))});
  }
}

// Amounts are exact 128-bit decimal text: SQLite would sum them as doubles, so they are tallied
// per price (few distinct prices) and summed here.
Result<void> sum_paid(LedgerContext& ctx, LedgerTallies& out) {
  auto q = ctx.db.query("SELECT network, asset, decimals, amount, count FROM settled_tallies");
  std::map<std::tuple<std::string, std::string, unsigned>, payment::Atomic> sums;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) break;
    const auto amount = payment::parse_atomic(q.text(3));
    if (!amount.ok()) continue;
    auto& sum = sums[{q.text(0), q.text(1), static_cast<unsigned>(q.int64(2))}];
    sum += amount.value * static_cast<payment::Atomic>(unsigned_of(q.int64(4)));
  }
  for (const auto& [key, amount] : sums) {
    out.paid.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), amount});
  }
  return {};
}

}  // namespace

Result<void> add_decision(LedgerContext& ctx, std::string_view outcome, std::string_view reason) {
  auto q = ctx.db.query(
      "INSERT INTO decision_tallies (outcome, reason, count) VALUES (?1, ?2, 1) "
      "ON CONFLICT (outcome, reason) DO UPDATE SET count = count + 1");
  q.bind(1, outcome).bind(2, reason);
  return q.run();
}

Result<void> add_settled(LedgerContext& ctx, const PaymentIntent& intent) {
  auto q = ctx.db.query(
      "INSERT INTO settled_tallies (network, asset, decimals, amount, count) "
      "VALUES (?1, ?2, ?3, ?4, 1) "
      "ON CONFLICT (network, asset, decimals, amount) DO UPDATE SET count = count + 1");
  q.bind(1, intent.offer.network)
      .bind(2, intent.offer.asset)
      .bind(3, std::int64_t{intent.decimals})
      .bind(4, payment::format_atomic(intent.offer.amount));
  return q.run();
}

Result<LedgerTallies> count(LedgerContext& ctx, std::size_t merchant_limit) {
  LedgerTallies out;
  auto done = count_merchants(ctx, merchant_limit, out);
  if (done.ok()) done = count_decisions(ctx, out);
  if (done.ok()) done = count_approvals(ctx, out);
  if (done.ok()) done = sum_paid(ctx, out);
  if (!done.ok()) return done.error();
  return out;
}

}  // namespace flow::storage::ledger_tallies

#include "decision_log.hpp"

#include "flow/payment/amount.hpp"
#include "flow/storage/url_redaction.hpp"
#include "ledger_tallies.hpp"

namespace flow::storage {

namespace decision_log {
namespace {

Result<void> count_challenge(LedgerContext& ctx, const DecisionRecord& d, std::int64_t at_ms) {
  auto q = ctx.db.query(
      "INSERT INTO merchants (origin, first_seen_ms, last_seen_ms, challenges, allowed, denied, "
      "reviewed, paid, protocols, last_network, last_asset, last_amount, last_decimals) "
      "VALUES (?1, ?2, ?2, 1, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9, ?10) "
      "ON CONFLICT (origin) DO UPDATE SET "
      "first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), "
      "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), "
      "challenges = challenges + 1, allowed = allowed + excluded.allowed, "
      "denied = denied + excluded.denied, reviewed = reviewed + excluded.reviewed, "
      "protocols = CASE WHEN excluded.protocols <> '' THEN excluded.protocols ELSE protocols END, "
      "last_network = CASE WHEN excluded.last_amount <> '' THEN excluded.last_network "
      "ELSE last_network END, "
      "last_asset = CASE WHEN excluded.last_amount <> '' THEN excluded.last_asset "
      "ELSE last_asset END, "
      "last_decimals = CASE WHEN excluded.last_amount <> '' THEN excluded.last_decimals "
      "ELSE last_decimals END, "
      "last_amount = CASE WHEN excluded.last_amount <> '' THEN excluded.last_amount "
      "ELSE last_amount END");
  q.bind(1, d.merchant_origin)
      .bind(2, at_ms)
      .bind(3, std::int64_t{d.outcome == DecisionOutcome::allow})
      .bind(4, std::int64_t{d.outcome == DecisionOutcome::deny})
      .bind(5, std::int64_t{d.outcome == DecisionOutcome::review})
      .bind(6, d.protocols_offered)
      .bind(7, d.offer ? d.offer->network : std::string())
      .bind(8, d.offer ? d.offer->asset : std::string())
      .bind(9, d.offer ? payment::format_atomic(d.offer->amount) : std::string())
      .bind(10, std::int64_t{d.offer ? d.decimals : 0u});
  return q.run();
}

}  // namespace

Result<void> record(LedgerContext& ctx, const DecisionRecord& d) {
  if (d.id.empty() || d.merchant_origin.empty()) {
    return ledger_error(LedgerErrorCode::invalid_argument,
                        "a decision needs an id and a merchant origin");
  }
  const std::int64_t at_ms = d.at_ms != 0 ? d.at_ms : ctx.now_ms;
  auto q = ctx.db.query(
      "INSERT INTO decisions (id, at_ms, agent, merchant_origin, method, url, outcome, reason, "
      "rule, offers_seen, protocols_offered, protocol, scheme, network, asset, amount, decimals, "
      "pay_to, approval_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18, ?19)");
  const payment::Offer none;
  const payment::Offer& o = d.offer ? *d.offer : none;
  q.bind(1, d.id)
      .bind(2, at_ms)
      .bind(3, d.agent)
      .bind(4, d.merchant_origin)
      .bind(5, d.method)
      .bind(6, redact_url_query(d.url, ctx.url_query))
      .bind(7, policy::verdict_name(d.outcome))
      .bind(8, payment::reason_name(d.reason))
      .bind(9, d.rule)
      .bind(10, std::int64_t{d.offers_seen})
      .bind(11, d.protocols_offered)
      .bind(12, o.protocol)
      .bind(13, o.scheme)
      .bind(14, o.network)
      .bind(15, o.asset)
      .bind(16, d.offer ? payment::format_atomic(o.amount) : std::string())
      .bind(17, std::int64_t{d.decimals})
      .bind(18, o.pay_to)
      .bind(19, d.approval_id);
  auto inserted = q.run();
  if (!inserted.ok()) return inserted;
  auto counted = count_challenge(ctx, d, at_ms);
  if (!counted.ok()) return counted;
  return ledger_tallies::add_decision(ctx, policy::verdict_name(d.outcome),
                                      payment::reason_name(d.reason));
}

Result<void> count_paid(LedgerContext& ctx, std::string_view origin) {
  // A payment to a merchant never seen in a decision still counts (first_seen = now).
  auto q = ctx.db.query(
      "INSERT INTO merchants (origin, first_seen_ms, last_seen_ms, paid) VALUES (?1, ?2, ?2, 1) "
      "ON CONFLICT (origin) DO UPDATE SET paid = paid + 1, "
      "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)");
  q.bind(1, origin).bind(2, ctx.now_ms);
  return q.run();
}

Result<std::vector<ObservedMerchant>> merchants(LedgerContext& ctx) {
  auto q = ctx.db.query(
      "SELECT origin, first_seen_ms, last_seen_ms, challenges, allowed, denied, reviewed, paid, "
      "protocols, last_network, last_asset, last_amount, last_decimals FROM merchants "
      "ORDER BY origin");
  std::vector<ObservedMerchant> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    ObservedMerchant m;
    m.origin = q.text(0);
    m.first_seen_ms = q.int64(1);
    m.last_seen_ms = q.int64(2);
    m.challenges = static_cast<std::uint64_t>(q.int64(3));
    m.allowed = static_cast<std::uint64_t>(q.int64(4));
    m.denied = static_cast<std::uint64_t>(q.int64(5));
    m.reviewed = static_cast<std::uint64_t>(q.int64(6));
    m.paid = static_cast<std::uint64_t>(q.int64(7));
    m.protocols = q.text(8);
    if (const std::string amount = q.text(11); !amount.empty()) {
      const auto parsed = payment::parse_atomic(amount);
      if (!parsed.ok()) {
        return ledger_error(LedgerErrorCode::storage_failed,
                            "merchant " + m.origin + ": its last offer is unreadable");
      }
      m.last_offer =
          ObservedOffer{q.text(9), q.text(10), parsed.value, static_cast<unsigned>(q.int64(12))};
    }
    out.push_back(std::move(m));
  }
}

}  // namespace decision_log
}  // namespace flow::storage

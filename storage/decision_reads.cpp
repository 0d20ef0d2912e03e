#include "decision_reads.hpp"

#include <string>

#include "flow/payment/amount.hpp"

namespace flow::storage::decision_reads {
namespace {

void bind_optional(sql::Query& q, int index, const std::optional<std::string>& value) {
  if (value) {
    q.bind(index, *value);
  } else {
    q.bind_null(index);
  }
}

// The offer columns, when the decision was about one (its amount is '' otherwise).
std::optional<payment::Offer> read_offer(const sql::Query& q) {
  const std::string amount = q.text(15);
  if (amount.empty()) return std::nullopt;
  const auto parsed = payment::parse_atomic(amount);
  if (!parsed.ok()) return std::nullopt;
  payment::Offer o;
  o.protocol = q.text(11);
  o.scheme = q.text(12);
  o.network = q.text(13);
  o.asset = q.text(14);
  o.amount = parsed.value;
  o.pay_to = q.text(17);
  return o;
}

DecisionRecord read_row(const sql::Query& q) {
  DecisionRecord d;
  d.id = q.text(0);
  d.at_ms = q.int64(1);
  d.agent = q.text(2);
  d.merchant_origin = q.text(3);
  d.method = q.text(4);
  d.url = q.text(5);
  d.outcome = policy::verdict_from_name(q.text(6)).value_or(policy::Verdict::deny);
  d.reason = payment::reason_from_name(q.text(7)).value_or(payment::Reason::allowed);
  d.rule = q.text(8);
  d.offers_seen = static_cast<int>(q.int64(9));
  d.protocols_offered = q.text(10);
  d.offer = read_offer(q);
  d.decimals = static_cast<unsigned>(q.int64(16));
  d.approval_id = q.text(18);
  return d;
}

}  // namespace

Result<std::vector<DecisionRecord>> list(LedgerContext& ctx, const DecisionFilter& filter) {
  auto q = ctx.db.query(
      "SELECT id, at_ms, agent, merchant_origin, method, url, outcome, reason, rule, offers_seen, "
      "protocols_offered, protocol, scheme, network, asset, amount, decimals, pay_to, approval_id "
      "FROM decisions WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR merchant_origin = ?2 "
      "OR merchant_origin = 'https://' || ?2 OR merchant_origin = 'http://' || ?2 "
      "OR substr(merchant_origin, 1, length(?2) + 9) = 'https://' || ?2 || ':' "
      "OR substr(merchant_origin, 1, length(?2) + 8) = 'http://' || ?2 || ':') "
      "AND (?3 IS NULL OR outcome = ?3) AND (?4 = '' OR id < ?4) ORDER BY id DESC LIMIT ?5");
  bind_optional(q, 1, filter.agent);
  bind_optional(q, 2, filter.merchant);
  bind_optional(q, 3,
                filter.outcome
                    ? std::optional<std::string>(std::string(policy::verdict_name(*filter.outcome)))
                    : std::nullopt);
  q.bind(4, filter.before_id).bind(5, static_cast<std::int64_t>(filter.limit));
  std::vector<DecisionRecord> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    out.push_back(read_row(q));
  }
}

}  // namespace flow::storage::decision_reads

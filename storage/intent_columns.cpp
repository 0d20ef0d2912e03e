#include "intent_columns.hpp"

#include "flow/payment/amount.hpp"

namespace flow::storage::intent_columns {

bool read(const sql::Query& q, int first, PaymentIntent& in) {
  int c = first;
  in.agent = q.text(c++);
  in.idempotency_key = q.text(c++);
  in.merchant_origin = q.text(c++);
  in.method = q.text(c++);
  in.url = q.text(c++);
  in.offer.protocol = q.text(c++);
  in.offer.protocol_version = static_cast<int>(q.int64(c++));
  in.offer.scheme = q.text(c++);
  in.offer.network = q.text(c++);
  in.offer.asset = q.text(c++);
  const auto amount = payment::parse_atomic(q.text(c++));
  in.offer.amount = amount.value;
  in.decimals = static_cast<unsigned>(q.int64(c++));
  in.offer.pay_to = q.text(c++);
  in.offer.resource = q.text(c++);
  in.offer.expires_at = q.int64(c++);
  in.offer.index = static_cast<int>(q.int64(c++));
  in.decision_id = q.text(c++);
  in.rule = q.text(c++);
  in.approval_id = q.text(c++);
  return amount.ok();
}

void bind(sql::Query& q, int first, const PaymentIntent& in) {
  const payment::Offer& o = in.offer;
  int p = first;
  q.bind(p++, in.agent);
  q.bind(p++, in.idempotency_key);
  q.bind(p++, in.merchant_origin);
  q.bind(p++, in.method);
  q.bind(p++, in.url);
  q.bind(p++, o.protocol);
  q.bind(p++, std::int64_t{o.protocol_version});
  q.bind(p++, o.scheme);
  q.bind(p++, o.network);
  q.bind(p++, o.asset);
  q.bind(p++, payment::format_atomic(o.amount));
  q.bind(p++, std::int64_t{in.decimals});
  q.bind(p++, o.pay_to);
  q.bind(p++, o.resource);
  q.bind(p++, o.expires_at);
  q.bind(p++, std::int64_t{o.index});
  q.bind(p++, in.decision_id);
  q.bind(p++, in.rule);
  q.bind(p++, in.approval_id);
}

std::string_view failure_code_column(const std::optional<payment::Reason>& code) {
  return code ? payment::reason_name(*code) : std::string_view();
}

std::optional<std::optional<payment::Reason>> failure_code_from_column(std::string_view text) {
  if (text.empty()) return std::optional<payment::Reason>();
  const auto code = payment::reason_from_name(text);
  if (!code) return std::nullopt;
  return code;
}

}  // namespace flow::storage::intent_columns

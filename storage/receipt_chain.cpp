// The receipt hash chain's encoding. Changing anything here changes every hash: a new
// encoding needs a new version line and verification that knows both.
#include <charconv>
#include <optional>
#include <string>

#include "flow/payment/amount.hpp"
#include "flow/storage/receipt.hpp"
#include "hash_chain.hpp"
#include "sha256.hpp"

namespace flow::storage {
namespace {

std::string_view version_line(int encoding) {
  return encoding == 1 ? "402flow-receipt-v1\n" : "402flow-receipt-v2\n";
}

void field(std::string& out, std::string_view name, std::string_view value) {
  append_chain_field(out, name, value);
}

void field(std::string& out, std::string_view name, std::int64_t value) {
  field(out, name, std::to_string(value));
}

}  // namespace

std::string receipt_canonical_form(const Receipt& r) {
  const Attempt& a = r.attempt;
  const PaymentIntent& in = a.intent;
  const payment::Offer& o = in.offer;
  std::string out(version_line(r.encoding));
  out.reserve(1024 + a.evidence.size() + in.url.size());
  field(out, "seq", r.seq);
  field(out, "recorded_at_ms", r.recorded_at_ms);
  field(out, "attempt_id", a.id);
  field(out, "state", attempt_state_name(a.state));
  field(out, "agent", in.agent);
  field(out, "idempotency_key", in.idempotency_key);
  field(out, "merchant_origin", in.merchant_origin);
  field(out, "method", in.method);
  field(out, "url", in.url);
  field(out, "protocol", o.protocol);
  field(out, "protocol_version", std::int64_t{o.protocol_version});
  field(out, "scheme", o.scheme);
  field(out, "network", o.network);
  field(out, "asset", o.asset);
  field(out, "amount", payment::format_atomic(o.amount));
  field(out, "decimals", std::int64_t{in.decimals});
  field(out, "pay_to", o.pay_to);
  field(out, "resource", o.resource);
  field(out, "offer_expires_at", o.expires_at);
  field(out, "offer_index", std::int64_t{o.index});
  field(out, "decision_id", in.decision_id);
  field(out, "rule", in.rule);
  field(out, "approval_id", in.approval_id);
  field(out, "payer", a.payer);
  field(out, "credential_ref", a.credential_ref);
  field(out, "credential_sha256", a.credential_sha256);
  field(out, "settlement_ref", a.settlement_ref);
  field(out, "evidence", a.evidence);
  field(out, "http_status", std::int64_t{a.http_status});
  field(out, "failure_reason", a.failure_reason);
  if (r.encoding >= 2) {
    field(out, "failure_code",
          a.failure_code ? payment::reason_name(*a.failure_code) : std::string_view());
  }
  field(out, "reserved_at_ms", a.times.reserved_at_ms);
  field(out, "signed_at_ms", a.times.signed_at_ms);
  field(out, "submitted_at_ms", a.times.submitted_at_ms);
  field(out, "finished_at_ms", a.times.finished_at_ms);
  field(out, "prev_hash", r.prev_hash);
  return out;
}

bool receipt_is_well_formed(const Receipt& receipt) {
  switch (receipt.encoding) {
    case 1:
      return !receipt.attempt.failure_code.has_value();
    case 2:
      return true;
    default:
      return false;
  }
}

std::string receipt_hash(const Receipt& receipt) {
  return sha256_hex(receipt_canonical_form(receipt));
}

std::string make_receipt_id(std::int64_t seq, std::string_view hash) {
  return "rcpt_" + std::to_string(seq) + "_" + std::string(hash.substr(0, 16));
}

std::optional<std::int64_t> receipt_id_seq(std::string_view receipt_id) {
  constexpr std::string_view kPrefix = "rcpt_";
  if (receipt_id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  receipt_id.remove_prefix(kPrefix.size());
  const auto underscore = receipt_id.find('_');
  if (underscore == 0 || underscore == std::string_view::npos) return std::nullopt;
  std::int64_t seq = 0;
  const char* begin = receipt_id.data();
  const auto [end, ec] = std::from_chars(begin, begin + underscore, seq);
  if (ec != std::errc{} || end != begin + underscore || seq <= 0) return std::nullopt;
  return seq;
}

std::string_view chain_problem_name(ChainProblem problem) {
  switch (problem) {
    case ChainProblem::none:
      return "none";
    case ChainProblem::missing_row:
      return "missing_row";
    case ChainProblem::prev_hash_mismatch:
      return "prev_hash_mismatch";
    case ChainProblem::hash_mismatch:
      return "hash_mismatch";
    case ChainProblem::bad_receipt_id:
      return "bad_receipt_id";
    case ChainProblem::head_mismatch:
      return "head_mismatch";
  }
  return "unknown";
}

}  // namespace flow::storage

#include "approval_store.hpp"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include "flow/payment/amount.hpp"
#include "flow/storage/decision.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::storage {
namespace {

constexpr std::array<std::pair<ApprovalState, std::string_view>, 5> kNames{{
    {ApprovalState::pending, "pending"},
    {ApprovalState::approved, "approved"},
    {ApprovalState::denied, "denied"},
    {ApprovalState::expired, "expired"},
    {ApprovalState::used, "used"},
}};

}  // namespace

std::string_view approval_state_name(ApprovalState state) {
  for (const auto& [s, name] : kNames) {
    if (s == state) return name;
  }
  return "invalid";
}

std::optional<ApprovalState> approval_state_from_name(std::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool approval_binds(const Approval& approval, const ApprovalBinding& binding,
                    UrlQueryMode url_query) {
  const ApprovalRequest& r = approval.request;
  const payment::Offer& o = binding.offer;
  return r.agent == binding.agent && r.merchant_origin == binding.merchant_origin &&
         r.method == binding.method && r.url == redact_url_query(binding.url, url_query) &&
         r.offer.protocol == o.protocol && r.offer.scheme == o.scheme &&
         r.offer.network == o.network && r.offer.asset == o.asset && r.offer.pay_to == o.pay_to &&
         o.amount <= r.offer.amount;
}

namespace approval_store {
namespace {

constexpr const char* kColumns =
    "id, decision_id, agent, merchant_origin, method, url, rule, protocol, scheme, network, "
    "asset, amount, decimals, pay_to, resource, state, created_at_ms, expires_at_ms, "
    "resolved_at_ms, resolved_by, note, attempt_id, used_at_ms";

Result<Approval> read_approval(const sql::Query& q) {
  Approval a;
  ApprovalRequest& r = a.request;
  a.id = q.text(0);
  r.decision_id = q.text(1);
  r.agent = q.text(2);
  r.merchant_origin = q.text(3);
  r.method = q.text(4);
  r.url = q.text(5);
  r.rule = q.text(6);
  r.offer.protocol = q.text(7);
  r.offer.scheme = q.text(8);
  r.offer.network = q.text(9);
  r.offer.asset = q.text(10);
  const auto amount = payment::parse_atomic(q.text(11));
  const auto state = approval_state_from_name(q.text(15));
  if (!amount.ok() || !state) {
    return ledger_error(LedgerErrorCode::storage_failed, "approval " + a.id + " is unreadable");
  }
  r.offer.amount = amount.value;
  r.decimals = static_cast<unsigned>(q.int64(12));
  r.offer.pay_to = q.text(13);
  r.offer.resource = q.text(14);
  a.state = *state;
  a.created_at_ms = q.int64(16);
  r.expires_at_ms = q.int64(17);
  a.resolved_at_ms = q.int64(18);
  a.resolved_by = q.text(19);
  a.note = q.text(20);
  a.attempt_id = q.int64(21);
  a.used_at_ms = q.int64(22);
  return a;
}

Result<std::vector<Approval>> read_all(sql::Query& q) {
  std::vector<Approval> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    auto approval = read_approval(q);
    if (!approval.ok()) return approval.error();
    out.push_back(std::move(approval).value());
  }
}

Result<void> store_resolution(LedgerContext& ctx, const Approval& a) {
  auto q = ctx.db.query(
      "UPDATE approvals SET state = ?2, resolved_at_ms = ?3, resolved_by = ?4, note = ?5 "
      "WHERE id = ?1 AND state = 'pending'");
  q.bind(1, a.id)
      .bind(2, approval_state_name(a.state))
      .bind(3, a.resolved_at_ms)
      .bind(4, a.resolved_by)
      .bind(5, a.note);
  return q.run();
}

}  // namespace

Result<Approval> open(LedgerContext& ctx, const ApprovalRequest& request) {
  Approval a;
  a.id = new_record_id("apr_");
  a.request = request;
  a.request.url = redact_url_query(request.url, ctx.url_query);
  a.request.offer.resource = redact_url_query(request.offer.resource, ctx.url_query);
  a.created_at_ms = ctx.now_ms;
  static const std::string sql = [] {
    std::string values;
    for (int i = 1; i <= 23; ++i) values += (i == 1 ? "?" : ", ?") + std::to_string(i);
    return std::string("INSERT INTO approvals (") + kColumns + ") VALUES (" + values + ")";
  }();
  const ApprovalRequest& r = a.request;
  auto q = ctx.db.query(sql);
  q.bind(1, a.id)
      .bind(2, r.decision_id)
      .bind(3, r.agent)
      .bind(4, r.merchant_origin)
      .bind(5, r.method)
      .bind(6, r.url)
      .bind(7, r.rule)
      .bind(8, r.offer.protocol)
      .bind(9, r.offer.scheme)
      .bind(10, r.offer.network)
      .bind(11, r.offer.asset)
      .bind(12, payment::format_atomic(r.offer.amount))
      .bind(13, std::int64_t{r.decimals})
      .bind(14, r.offer.pay_to)
      .bind(15, r.offer.resource)
      .bind(16, approval_state_name(a.state))
      .bind(17, a.created_at_ms)
      .bind(18, r.expires_at_ms)
      .bind(19, a.resolved_at_ms)
      .bind(20, a.resolved_by)
      .bind(21, a.note)
      .bind(22, a.attempt_id)
      .bind(23, a.used_at_ms);
  auto inserted = q.run();
  if (!inserted.ok()) return inserted.error();
  return a;
}

Result<std::optional<Approval>> get(LedgerContext& ctx, std::string_view id) {
  static const std::string sql =
      std::string("SELECT ") + kColumns + " FROM approvals WHERE id = ?1";
  auto q = ctx.db.query(sql);
  q.bind(1, id);
  auto all = read_all(q);
  if (!all.ok()) return all.error();
  if (all.value().empty()) return std::optional<Approval>{};
  return std::optional<Approval>(std::move(all.value().front()));
}

Result<Approval> resolve(LedgerContext& ctx, std::string_view id, ApprovalState to,
                         std::string_view resolved_by, std::string_view note) {
  auto found = get(ctx, id);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    return ledger_error(LedgerErrorCode::not_found, "approval " + std::string(id));
  }
  Approval a = std::move(*found.value());
  const auto illegal = [&](std::string why) {
    return ledger_error(LedgerErrorCode::illegal_transition, "approval " + a.id + ": " + why);
  };
  if (a.state != ApprovalState::pending) {
    return illegal(std::string(approval_state_name(a.state)) + " is final");
  }
  if (to != ApprovalState::approved && to != ApprovalState::denied) {
    return illegal("a person approves or denies; expiry is expire_approvals()");
  }
  if (to == ApprovalState::approved && a.request.expires_at_ms != 0 &&
      ctx.now_ms >= a.request.expires_at_ms) {
    return illegal("expired before it was approved");
  }
  a.state = to;
  a.resolved_at_ms = ctx.now_ms;
  a.resolved_by = std::string(resolved_by);
  a.note = std::string(note);
  auto stored = store_resolution(ctx, a);
  if (!stored.ok()) return stored.error();
  return a;
}

Result<std::vector<Approval>> expire(LedgerContext& ctx) {
  static const std::string sql =
      std::string("SELECT ") + kColumns +
      " FROM approvals WHERE state = 'pending' AND expires_at_ms <> 0 AND expires_at_ms <= ?1 "
      "ORDER BY rowid";
  auto q = ctx.db.query(sql);
  q.bind(1, ctx.now_ms);
  auto due = read_all(q);
  if (!due.ok()) return due.error();
  for (Approval& a : due.value()) {
    a.state = ApprovalState::expired;
    a.resolved_at_ms = ctx.now_ms;
    a.resolved_by = "402flow";
    auto stored = store_resolution(ctx, a);
    if (!stored.ok()) return stored.error();
  }
  return due;
}

Result<std::vector<Approval>> pending(LedgerContext& ctx) {
  static const std::string sql = std::string("SELECT ") + kColumns +
                                 " FROM approvals WHERE state = 'pending' ORDER BY created_at_ms";
  auto q = ctx.db.query(sql);
  return read_all(q);
}

Result<std::optional<Approval>> find_pending(LedgerContext& ctx, const ApprovalBinding& binding) {
  static const std::string sql =
      std::string("SELECT ") + kColumns +
      " FROM approvals WHERE state = 'pending' AND agent = ?1 AND url = ?2 AND "
      "(expires_at_ms = 0 OR expires_at_ms > ?3) ORDER BY rowid DESC";
  auto q = ctx.db.query(sql);
  q.bind(1, binding.agent)
      .bind(2, redact_url_query(binding.url, ctx.url_query))
      .bind(3, ctx.now_ms);
  auto candidates = read_all(q);
  if (!candidates.ok()) return candidates.error();
  for (Approval& a : candidates.value()) {
    if (approval_binds(a, binding, ctx.url_query)) return std::optional<Approval>(std::move(a));
  }
  return std::optional<Approval>{};
}

Result<Approval> use(LedgerContext& ctx, std::string_view id, std::int64_t attempt_id) {
  auto found = get(ctx, id);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    return ledger_error(LedgerErrorCode::not_found, "approval " + std::string(id));
  }
  Approval a = std::move(*found.value());
  if (a.state != ApprovalState::approved) {
    return ledger_error(LedgerErrorCode::illegal_transition,
                        "approval " + a.id + " is " + std::string(approval_state_name(a.state)) +
                            ", not approved: it cannot be used");
  }
  auto q = ctx.db.query(
      "UPDATE approvals SET state = 'used', attempt_id = ?2, used_at_ms = ?3 "
      "WHERE id = ?1 AND state = 'approved'");
  q.bind(1, a.id).bind(2, attempt_id).bind(3, ctx.now_ms);
  auto done = q.run();
  if (!done.ok()) return done.error();
  a.state = ApprovalState::used;
  a.attempt_id = attempt_id;
  a.used_at_ms = ctx.now_ms;
  return a;
}

Result<std::vector<Approval>> list(LedgerContext& ctx, const ApprovalFilter& filter) {
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!filter.before.empty()) {
    auto q = ctx.db.query("SELECT rowid FROM approvals WHERE id = ?1");
    q.bind(1, filter.before);
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) {
      return ledger_error(LedgerErrorCode::not_found, "approval cursor " + filter.before);
    }
    before = q.int64(0);
  }
  static const std::string sql = std::string("SELECT ") + kColumns +
                                 " FROM approvals WHERE rowid < ?1 AND (?2 = '' OR state = ?2) "
                                 "ORDER BY rowid DESC LIMIT ?3";
  auto q = ctx.db.query(sql);
  q.bind(1, before)
      .bind(2, filter.state ? approval_state_name(*filter.state) : std::string_view())
      .bind(3, static_cast<std::int64_t>(filter.limit));
  return read_all(q);
}

}  // namespace approval_store
}  // namespace flow::storage

#include "receipt_store.hpp"

#include <string>

#include "hash_chain.hpp"
#include "intent_columns.hpp"

namespace flow::storage::receipt_store {
namespace {

// Column order shared by the SELECTs below and read_receipt().
const std::string kColumns =
    std::string("seq, receipt_id, recorded_at_ms, attempt_id, state, ") + intent_columns::kNames +
    ", payer, credential_ref, credential_sha256, settlement_ref, evidence, http_status, "
    "failure_reason, reserved_at_ms, signed_at_ms, submitted_at_ms, finished_at_ms, prev_hash, "
    "hash, failure_code, encoding";

// A row as stored. Fields that do not parse (an unknown state, a non-numeric amount) are kept
// as `unreadable` so verification reports the row instead of stopping.
struct Row {
  Receipt receipt;
  bool unreadable = false;
};

Row read_row(const sql::Query& q) {
  Row row;
  Receipt& r = row.receipt;
  Attempt& a = r.attempt;
  r.seq = q.int64(0);
  r.receipt_id = q.text(1);
  r.recorded_at_ms = q.int64(2);
  a.id = q.int64(3);
  const auto state = attempt_state_from_name(q.text(4));
  row.unreadable = !state;
  a.state = state.value_or(AttemptState::unknown);
  row.unreadable = !intent_columns::read(q, 5, a.intent) || row.unreadable;
  a.payer = q.text(24);
  a.credential_ref = q.text(25);
  a.credential_sha256 = q.text(26);
  a.settlement_ref = q.text(27);
  a.evidence = q.text(28);
  a.http_status = static_cast<int>(q.int64(29));
  a.failure_reason = q.text(30);
  a.times.reserved_at_ms = q.int64(31);
  a.times.signed_at_ms = q.int64(32);
  a.times.submitted_at_ms = q.int64(33);
  a.times.finished_at_ms = q.int64(34);
  r.prev_hash = q.text(35);
  r.hash = q.text(36);
  const auto code = intent_columns::failure_code_from_column(q.text(37));
  row.unreadable = !code || row.unreadable;
  a.failure_code = code.value_or(std::nullopt);
  r.encoding = static_cast<int>(q.int64(38));
  row.unreadable = !receipt_is_well_formed(r) || row.unreadable;
  return row;
}

const ChainNames kReceiptChain{"chain_head", "the chain head", "receipt", "receipts",
                               "a receipt id"};

}  // namespace

Result<Receipt> append(LedgerContext& ctx, const Attempt& attempt) {
  auto head = read_chain_head(ctx, kReceiptChain);
  if (!head.ok()) return head.error();
  Receipt r;
  r.seq = head.value().seq + 1;
  r.recorded_at_ms = ctx.now_ms;
  r.attempt = attempt;
  r.prev_hash = head.value().hash;
  r.hash = receipt_hash(r);
  r.receipt_id = make_receipt_id(r.seq, r.hash);

  static const std::string insert = [] {
    std::string values;
    for (int i = 1; i <= 39; ++i) values += (i == 1 ? "?" : ", ?") + std::to_string(i);
    return std::string("INSERT INTO receipts (") + kColumns + ") VALUES (" + values + ")";
  }();
  const Attempt& a = r.attempt;
  auto q = ctx.db.query(insert);
  q.bind(1, r.seq)
      .bind(2, r.receipt_id)
      .bind(3, r.recorded_at_ms)
      .bind(4, a.id)
      .bind(5, attempt_state_name(a.state));
  intent_columns::bind(q, 6, a.intent);
  q.bind(25, a.payer)
      .bind(26, a.credential_ref)
      .bind(27, a.credential_sha256)
      .bind(28, a.settlement_ref)
      .bind(29, a.evidence)
      .bind(30, std::int64_t{a.http_status})
      .bind(31, a.failure_reason)
      .bind(32, a.times.reserved_at_ms)
      .bind(33, a.times.signed_at_ms)
      .bind(34, a.times.submitted_at_ms)
      .bind(35, a.times.finished_at_ms)
      .bind(36, r.prev_hash)
      .bind(37, r.hash)
      .bind(38, intent_columns::failure_code_column(a.failure_code))
      .bind(39, std::int64_t{r.encoding});
  auto inserted = q.run();
  if (!inserted.ok()) return inserted.error();

  auto moved = move_chain_head(ctx, kReceiptChain, r.seq, r.hash);
  if (!moved.ok()) return moved.error();
  return r;
}

Result<std::vector<Receipt>> list(LedgerContext& ctx, const ReceiptFilter& filter) {
  // Pages walk the seq primary key from one end; the filters narrow what is read on the way.
  const auto sql = [](const char* order) {
    return std::string("SELECT ") + kColumns +
           " FROM receipts WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR merchant_origin = "
           "?2 OR merchant_origin = 'https://' || ?2 OR merchant_origin = 'http://' || ?2 "
           // a bare host also matches it on any port (origins keep a port only when not the
           // default)
           "OR substr(merchant_origin, 1, length(?2) + 9) = 'https://' || ?2 || ':' "
           "OR substr(merchant_origin, 1, length(?2) + 8) = 'http://' || ?2 || ':') "
           "AND recorded_at_ms >= ?3 AND (?4 = 0 OR recorded_at_ms < ?4) "
           "AND (?5 IS NULL OR state = ?5) AND (?6 = 0 OR seq < ?6) ORDER BY seq " +
           order + " LIMIT ?7";
  };
  static const std::string oldest_first = sql("ASC");
  static const std::string newest_first = sql("DESC");
  auto q = ctx.db.query(filter.newest_first ? newest_first : oldest_first);
  if (filter.agent) {
    q.bind(1, *filter.agent);
  } else {
    q.bind_null(1);
  }
  if (filter.merchant) {
    q.bind(2, *filter.merchant);
  } else {
    q.bind_null(2);
  }
  q.bind(3, filter.since_ms).bind(4, filter.until_ms);
  if (filter.state) {
    q.bind(5, attempt_state_name(*filter.state));
  } else {
    q.bind_null(5);
  }
  q.bind(6, filter.before_seq)
      .bind(7, filter.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(filter.limit));
  std::vector<Receipt> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    out.push_back(read_row(q).receipt);
  }
}

Result<std::map<std::int64_t, std::string>> latest_ids(LedgerContext& ctx,
                                                       const std::vector<std::int64_t>& attempts) {
  std::map<std::int64_t, std::string> out;
  for (const std::int64_t id : attempts) {
    if (out.contains(id)) continue;
    auto q = ctx.db.query(
        "SELECT receipt_id FROM receipts WHERE attempt_id = ?1 ORDER BY seq DESC LIMIT 1");
    q.bind(1, id);
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (row.value()) out[id] = q.text(0);
  }
  return out;
}

Result<std::optional<Receipt>> get(LedgerContext& ctx, std::string_view receipt_id) {
  const auto seq = receipt_id_seq(receipt_id);
  if (!seq) return std::optional<Receipt>{};
  static const std::string sql =
      std::string("SELECT ") + kColumns + " FROM receipts WHERE seq = ?1";
  auto q = ctx.db.query(sql);
  q.bind(1, *seq);
  auto row = q.next();
  if (!row.ok()) return row.error();
  if (!row.value()) return std::optional<Receipt>{};
  Receipt r = read_row(q).receipt;
  if (r.receipt_id != receipt_id) return std::optional<Receipt>{};  // right seq, wrong hash part
  return std::optional<Receipt>(std::move(r));
}

Result<ChainReport> verify(LedgerContext& ctx) {
  auto head = read_chain_head(ctx, kReceiptChain);
  if (!head.ok()) return head.error();
  ChainWalk walk(kReceiptChain, head.value());
  static const std::string sql = std::string("SELECT ") + kColumns + " FROM receipts ORDER BY seq";
  auto q = ctx.db.query(sql);
  for (;;) {
    auto next = q.next();
    if (!next.ok()) return next.error();
    if (!next.value()) break;
    const Row row = read_row(q);
    const Receipt& r = row.receipt;
    if (!walk.row(r.seq, r.receipt_id, r.prev_hash, r.hash,
                  !row.unreadable && receipt_hash(r) == r.hash,
                  r.receipt_id == make_receipt_id(r.seq, r.hash))) {
      return walk.report();
    }
  }
  return walk.finish();
}

}  // namespace flow::storage::receipt_store

#include "audit_store.hpp"

#include <string>

#include "hash_chain.hpp"
#include "sha256.hpp"

namespace flow::storage {
namespace {

// The audit chain's encoding. Changing anything here changes every hash: a new encoding needs a
// new version line and verification that knows both (as receipt_chain.cpp does).
constexpr std::string_view kVersionLine = "402flow-audit-v1\n";

void field(std::string& out, std::string_view name, std::string_view value) {
  append_chain_field(out, name, value);
}

}  // namespace

std::string audit_canonical_form(const AuditRecord& r) {
  std::string out(kVersionLine);
  field(out, "seq", std::to_string(r.seq));
  field(out, "at_ms", std::to_string(r.at_ms));
  field(out, "actor", r.entry.actor);
  field(out, "action", r.entry.action);
  field(out, "subject", r.entry.subject);
  field(out, "detail", r.entry.detail);
  field(out, "prev_hash", r.prev_hash);
  return out;
}

std::string audit_hash(const AuditRecord& record) {
  return sha256_hex(audit_canonical_form(record));
}

std::string make_audit_id(std::int64_t seq, std::string_view hash) {
  return "aud_" + std::to_string(seq) + "_" + std::string(hash.substr(0, 16));
}

namespace audit_store {
namespace {

constexpr const char* kColumns =
    "seq, id, at_ms, actor, action, subject, detail, prev_hash, hash, encoding";

AuditRecord read_row(const sql::Query& q) {
  AuditRecord r;
  r.seq = q.int64(0);
  r.id = q.text(1);
  r.at_ms = q.int64(2);
  r.entry.actor = q.text(3);
  r.entry.action = q.text(4);
  r.entry.subject = q.text(5);
  r.entry.detail = q.text(6);
  r.prev_hash = q.text(7);
  r.hash = q.text(8);
  r.encoding = static_cast<int>(q.int64(9));
  return r;
}

const ChainNames kAuditChain{"audit_head", "the audit chain head", "audit record", "audit records",
                             "an id"};

}  // namespace

Result<AuditRecord> append(LedgerContext& ctx, const AuditEntry& entry) {
  auto head = read_chain_head(ctx, kAuditChain);
  if (!head.ok()) return head.error();
  AuditRecord r;
  r.seq = head.value().seq + 1;
  r.at_ms = ctx.now_ms;
  r.entry = entry;
  if (r.entry.detail.empty()) r.entry.detail = "{}";
  r.prev_hash = head.value().hash;
  r.hash = audit_hash(r);
  r.id = make_audit_id(r.seq, r.hash);
  auto q = ctx.db.query(std::string("INSERT INTO audit (") + kColumns +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  q.bind(1, r.seq)
      .bind(2, r.id)
      .bind(3, r.at_ms)
      .bind(4, r.entry.actor)
      .bind(5, r.entry.action)
      .bind(6, r.entry.subject)
      .bind(7, r.entry.detail)
      .bind(8, r.prev_hash)
      .bind(9, r.hash)
      .bind(10, std::int64_t{r.encoding});
  auto inserted = q.run();
  if (!inserted.ok()) return inserted.error();
  auto moved = move_chain_head(ctx, kAuditChain, r.seq, r.hash);
  if (!moved.ok()) return moved.error();
  return r;
}

Result<std::vector<AuditRecord>> list(LedgerContext& ctx, const AuditFilter& filter) {
  auto q = ctx.db.query(std::string("SELECT ") + kColumns +
                        " FROM audit WHERE (?1 IS NULL OR action = ?1) AND (?2 = 0 OR seq < ?2) "
                        "ORDER BY seq DESC LIMIT ?3");
  if (filter.action) {
    q.bind(1, *filter.action);
  } else {
    q.bind_null(1);
  }
  q.bind(2, filter.before_seq).bind(3, static_cast<std::int64_t>(filter.limit));
  std::vector<AuditRecord> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    out.push_back(read_row(q));
  }
}

Result<ChainReport> verify(LedgerContext& ctx) {
  auto head = read_chain_head(ctx, kAuditChain);
  if (!head.ok()) return head.error();
  ChainWalk walk(kAuditChain, head.value());
  auto q = ctx.db.query(std::string("SELECT ") + kColumns + " FROM audit ORDER BY seq");
  for (;;) {
    auto next = q.next();
    if (!next.ok()) return next.error();
    if (!next.value()) break;
    const AuditRecord r = read_row(q);
    if (!walk.row(r.seq, r.id, r.prev_hash, r.hash, r.encoding == 1 && audit_hash(r) == r.hash,
                  r.id == make_audit_id(r.seq, r.hash))) {
      return walk.report();
    }
  }
  return walk.finish();
}

}  // namespace audit_store
}  // namespace flow::storage

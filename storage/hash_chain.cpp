#include "hash_chain.hpp"

#include <utility>

namespace flow::storage {

void append_chain_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += '=';
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

Result<ChainHead> read_chain_head(LedgerContext& ctx, const ChainNames& names) {
  auto q = ctx.db.query(std::string("SELECT seq, hash FROM ") + names.head_table + " WHERE id = 1");
  auto row = q.next();
  if (!row.ok()) return row.error();
  if (!row.value()) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        std::string(names.head) + " record is missing");
  }
  return ChainHead{q.int64(0), q.text(1)};
}

Result<void> move_chain_head(LedgerContext& ctx, const ChainNames& names, std::int64_t seq,
                             const std::string& hash) {
  auto q = ctx.db.query(std::string("UPDATE ") + names.head_table +
                        " SET seq = ?1, hash = ?2 WHERE id = 1");
  q.bind(1, seq).bind(2, hash);
  return q.run();
}

ChainWalk::ChainWalk(const ChainNames& names, const ChainHead& head)
    : names_(names), prev_(kGenesisHash) {
  report_.head_seq = head.seq;
  report_.head_hash = head.hash;
}

bool ChainWalk::broken(std::int64_t seq, ChainProblem problem, std::string detail) {
  report_.ok = false;
  report_.first_bad_seq = seq;
  report_.problem = problem;
  report_.detail = std::move(detail);
  return false;
}

bool ChainWalk::row(std::int64_t seq, const std::string& id, const std::string& prev_hash,
                    const std::string& hash, bool content_matches, bool id_matches) {
  const std::string name = std::string(names_.one) + " " + std::to_string(seq);
  if (seq != expected_seq_) {
    return broken(expected_seq_, ChainProblem::missing_row,
                  std::string(names_.one) + " " + std::to_string(expected_seq_) +
                      " is missing (the next row is " + std::to_string(seq) + ")");
  }
  if (prev_hash != prev_) {
    return broken(seq, ChainProblem::prev_hash_mismatch,
                  name + " does not follow the " + names_.one +
                      " before it (rows removed, inserted or reordered)");
  }
  if (!content_matches) {
    return broken(seq, ChainProblem::hash_mismatch,
                  name + " (" + id + ") does not match its hash: its content was changed");
  }
  if (!id_matches) {
    return broken(
        seq, ChainProblem::bad_receipt_id,
        name + " has " + names_.id_noun + " (" + id + ") that does not derive from its hash");
  }
  prev_ = hash;
  ++report_.rows_checked;
  ++expected_seq_;
  return true;
}

ChainReport ChainWalk::finish() {
  if (!report_.ok) return report_;
  const std::int64_t last = expected_seq_ - 1;
  if (report_.head_seq > last) {
    broken(last + 1, ChainProblem::missing_row,
           std::string(names_.many) + " " + std::to_string(last + 1) + " to " +
               std::to_string(report_.head_seq) + " are missing from the end of the chain");
  } else if (report_.head_seq < last) {
    broken(report_.head_seq + 1, ChainProblem::head_mismatch,
           std::string(names_.one) + " " + std::to_string(report_.head_seq + 1) +
               " and later were added without moving the chain head");
  } else if (report_.head_hash != prev_) {
    broken(last, ChainProblem::head_mismatch,
           std::string(names_.head) + "'s hash does not match " + names_.one + " " +
               std::to_string(last));
  }
  return report_;
}

}  // namespace flow::storage

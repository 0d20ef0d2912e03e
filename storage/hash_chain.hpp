// Internal: what the ledger's two hash chains (receipts, operator audit records) share: the
// length-prefixed field encoding their hashes cover, the head row that names the last link, and
// the walk that verifies a chain from its first row.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "flow/storage/receipt.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage {

// "name=<byte length>:value\n": a field of a canonical form, unambiguous whatever it holds.
void append_chain_field(std::string& out, std::string_view name, std::string_view value);

// How a chain is stored and spoken of in reports.
struct ChainNames {
  const char* head_table;  // one row (id = 1) holding the last link's seq and hash
  const char* head;        // "the chain head"
  const char* one;         // "receipt", "audit record"
  const char* many;        // "receipts", "audit records"
  const char* id_noun;     // "a receipt id", "an id"
};

struct ChainHead {
  std::int64_t seq = 0;
  std::string hash;
};

Result<ChainHead> read_chain_head(LedgerContext& ctx, const ChainNames& names);
Result<void> move_chain_head(LedgerContext& ctx, const ChainNames& names, std::int64_t seq,
                             const std::string& hash);

// Verification: every row in seq order, then finish(). A row's own checks (its content matches
// its hash, its id derives from the hash) come from its store.
class ChainWalk {
 public:
  ChainWalk(const ChainNames& names, const ChainHead& head);
  // False once a problem is found; report() then names it.
  bool row(std::int64_t seq, const std::string& id, const std::string& prev_hash,
           const std::string& hash, bool content_matches, bool id_matches);
  // The head against the last row; the report.
  ChainReport finish();
  const ChainReport& report() const { return report_; }

 private:
  bool broken(std::int64_t seq, ChainProblem problem, std::string detail);

  const ChainNames& names_;
  ChainReport report_;
  std::int64_t expected_seq_ = 1;
  std::string prev_;
};

}  // namespace flow::storage

// The operator audit chain: every action a person takes through the admin API (approve, deny,
// reload, reconcile) as an append-only row, hash-chained like the receipts (audit_store.cpp has
// the encoding) so an edited, removed or reordered row is detected.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/storage/receipt.hpp"

namespace flow::storage {

// What an operator did, before the ledger numbers and chains it.
struct AuditEntry {
  std::string actor;    // the admin token's name ("admin", "env", "alice")
  std::string action;   // "approve", "deny", "policy_reload", "reconcile"
  std::string subject;  // what it acted on: an approval id, an attempt id, the policy file
  std::string detail;   // a JSON object with the action's particulars ("{}" when none)
};

struct AuditRecord {
  std::int64_t seq = 0;
  std::string id;  // "aud_<seq>_<first 16 hex digits of hash>"
  std::int64_t at_ms = 0;
  AuditEntry entry;
  std::string prev_hash;
  std::string hash;
  int encoding = 1;  // the canonical form the hash was computed over
};

// Newest first. `before_seq` pages: only rows with a smaller seq (0: from the newest).
struct AuditFilter {
  std::optional<std::string> action;
  std::int64_t before_seq = 0;
  std::size_t limit = 100;
};

// The canonical form hashed for a record, its hash, and its id.
std::string audit_canonical_form(const AuditRecord& record);
std::string audit_hash(const AuditRecord& record);
std::string make_audit_id(std::int64_t seq, std::string_view hash);

}  // namespace flow::storage

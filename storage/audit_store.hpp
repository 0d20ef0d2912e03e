// Internal: appending, listing and verifying rows of the audit table.
#pragma once
#include <vector>

#include "flow/storage/audit.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::audit_store {

// Appends `entry` to the chain and moves the audit chain head, in the caller's transaction.
Result<AuditRecord> append(LedgerContext& ctx, const AuditEntry& entry);
Result<std::vector<AuditRecord>> list(LedgerContext& ctx, const AuditFilter& filter);
// The whole table in seq order against the head; call inside a read transaction.
Result<ChainReport> verify(LedgerContext& ctx);

}  // namespace flow::storage::audit_store

// Internal: what an operator does through the admin API, each with its audit record in the
// caller's transaction.
#pragma once
#include <cstdint>
#include <string_view>

#include "flow/storage/approval.hpp"
#include "flow/storage/audit.hpp"
#include "flow/storage/payment_attempt.hpp"
#include "flow/storage/receipt.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::operator_actions {

Result<Approval> resolve_approval(LedgerContext& ctx, std::string_view approval_id,
                                  ApprovalState to, std::string_view note, const AuditEntry& audit);
Result<Receipt> reconcile(LedgerContext& ctx, std::int64_t attempt_id, const Outcome& outcome,
                          const AuditEntry& audit);

}  // namespace flow::storage::operator_actions

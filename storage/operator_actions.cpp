#include "operator_actions.hpp"

#include <string>

#include "approval_store.hpp"
#include "attempt_lifecycle.hpp"
#include "attempt_store.hpp"
#include "audit_store.hpp"

namespace flow::storage::operator_actions {

Result<Approval> resolve_approval(LedgerContext& ctx, std::string_view approval_id,
                                  ApprovalState to, std::string_view note,
                                  const AuditEntry& audit) {
  auto resolved = approval_store::resolve(ctx, approval_id, to, audit.actor, note);
  if (!resolved.ok()) return resolved;
  auto recorded = audit_store::append(ctx, audit);
  if (!recorded.ok()) return recorded.error();
  return resolved;
}

Result<Receipt> reconcile(LedgerContext& ctx, std::int64_t attempt_id, const Outcome& outcome,
                          const AuditEntry& audit) {
  auto found = attempt_store::load(ctx, attempt_id);
  if (!found.ok()) return found.error();
  if (!found.value()) {
    return ledger_error(LedgerErrorCode::not_found, "attempt " + std::to_string(attempt_id));
  }
  if (found.value()->state != AttemptState::unknown) {
    return ledger_error(LedgerErrorCode::illegal_transition,
                        "attempt " + std::to_string(attempt_id) + " is " +
                            std::string(attempt_state_name(found.value()->state)) +
                            ", not unknown: only an unknown attempt is reconciled");
  }
  if (outcome.state != AttemptState::settled && outcome.state != AttemptState::failed) {
    return ledger_error(LedgerErrorCode::invalid_argument, "a reconciliation is settled or failed");
  }
  auto receipt = attempt_lifecycle::finalize(ctx, attempt_id, outcome);
  if (!receipt.ok()) return receipt;
  auto recorded = audit_store::append(ctx, audit);
  if (!recorded.ok()) return recorded.error();
  return receipt;
}

}  // namespace flow::storage::operator_actions

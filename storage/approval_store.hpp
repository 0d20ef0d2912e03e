// Internal: rows of the approvals table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "flow/storage/approval.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::approval_store {

Result<Approval> open(LedgerContext& ctx, const ApprovalRequest& request);
Result<Approval> resolve(LedgerContext& ctx, std::string_view id, ApprovalState to,
                         std::string_view resolved_by, std::string_view note);
// Pending approvals past their expiry become expired; returns them, as stored.
Result<std::vector<Approval>> expire(LedgerContext& ctx);
Result<std::optional<Approval>> get(LedgerContext& ctx, std::string_view id);
Result<std::vector<Approval>> pending(LedgerContext& ctx);
// The newest pending, unexpired approval `binding` is covered by.
Result<std::optional<Approval>> find_pending(LedgerContext& ctx, const ApprovalBinding& binding);
// approved -> used by `attempt_id`; any other state is illegal_transition.
Result<Approval> use(LedgerContext& ctx, std::string_view id, std::int64_t attempt_id);
Result<std::vector<Approval>> list(LedgerContext& ctx, const ApprovalFilter& filter);

}  // namespace flow::storage::approval_store

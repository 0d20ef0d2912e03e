// Internal: rows of the approvals table.
#pragma once
#include <cstddef>
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
Result<std::size_t> expire(LedgerContext& ctx);
Result<std::optional<Approval>> get(LedgerContext& ctx, std::string_view id);
Result<std::vector<Approval>> pending(LedgerContext& ctx);

}  // namespace flow::storage::approval_store

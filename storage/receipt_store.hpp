// Internal: appending, listing and verifying rows of the receipts table.
#pragma once
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "flow/storage/receipt.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::receipt_store {

// Appends a snapshot of `attempt` to the chain and moves the chain head, in the caller's
// transaction.
Result<Receipt> append(LedgerContext& ctx, const Attempt& attempt);
Result<std::vector<Receipt>> list(LedgerContext& ctx, const ReceiptFilter& filter);
Result<std::map<std::int64_t, std::string>> latest_ids(LedgerContext& ctx,
                                                       const std::vector<std::int64_t>& attempts);
Result<std::optional<Receipt>> get(LedgerContext& ctx, std::string_view receipt_id);
// Streams the whole table in seq order; call inside a read transaction so the rows and the
// chain head come from one snapshot.
Result<ChainReport> verify(LedgerContext& ctx);

}  // namespace flow::storage::receipt_store

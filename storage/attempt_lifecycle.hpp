// Internal: moving an attempt along its state machine, inside the caller's transaction.
#pragma once
#include <cstdint>
#include <string_view>

#include "flow/storage/payment_attempt.hpp"
#include "flow/storage/receipt.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::attempt_lifecycle {

Result<Attempt> mark_signed(LedgerContext& ctx, std::int64_t attempt_id,
                            const SignedDetails& details);
Result<Attempt> mark_submitted(LedgerContext& ctx, std::int64_t attempt_id);
// settled | failed | unknown, with its receipt; failed gives the reservation back.
Result<Receipt> finalize(LedgerContext& ctx, std::int64_t attempt_id, const Outcome& outcome);
Result<Attempt> release(LedgerContext& ctx, std::int64_t attempt_id, payment::Reason code,
                        std::string_view reason);

}  // namespace flow::storage::attempt_lifecycle

// Internal: rows of the attempts table <-> Attempt.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "flow/storage/payment_attempt.hpp"
#include "flow/storage/result.hpp"
#include "ledger_context.hpp"

namespace flow::storage::attempt_store {

Result<std::optional<Attempt>> load(LedgerContext& ctx, std::int64_t attempt_id);
Result<std::optional<Attempt>> find(LedgerContext& ctx, std::string_view agent,
                                    std::string_view idempotency_key);
Result<std::vector<Attempt>> in_state(LedgerContext& ctx, AttemptState state);
// Whether a settled attempt paid `pay_to` on `network`.
Result<bool> has_settled_payee(LedgerContext& ctx, std::string_view network,
                               std::string_view pay_to);
// Inserts `intent` (already redacted) as a reserved attempt and returns it with its id.
Result<Attempt> insert_reserved(LedgerContext& ctx, const PaymentIntent& intent);
// Writes the state and every field that changes after reservation.
Result<void> update(LedgerContext& ctx, const Attempt& attempt);

}  // namespace flow::storage::attempt_store

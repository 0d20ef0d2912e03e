#pragma once
#include "flow/storage/payment_attempt.hpp"
#include "sqlite_connection.hpp"

namespace flow::storage::intent_columns {

// The attempts and receipts tables both store a PaymentIntent as 19 adjacent columns, in this
// order, starting at some column (reading) or parameter (binding).
inline constexpr int kCount = 19;
inline constexpr const char* kNames =
    "agent, idempotency_key, merchant_origin, method, url, protocol, protocol_version, scheme, "
    "network, asset, amount, decimals, pay_to, resource, offer_expires_at, offer_index, "
    "decision_id, rule, approval_id";

// Reads the intent from columns first .. first + kCount - 1; false when the amount is unreadable
// (the rest is read all the same).
bool read(const sql::Query& q, int first, PaymentIntent& in);

// Binds the intent to parameters first .. first + kCount - 1.
void bind(sql::Query& q, int first, const PaymentIntent& in);

// The failure_code column of attempts and receipts: a payment::Reason name, '' for none.
std::string_view failure_code_column(const std::optional<payment::Reason>& code);
// nullopt (outer) when the text names no reason: the row was edited or is from a newer binary.
std::optional<std::optional<payment::Reason>> failure_code_from_column(std::string_view text);

}  // namespace flow::storage::intent_columns

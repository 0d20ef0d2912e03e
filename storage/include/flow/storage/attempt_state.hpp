#pragma once
#include <optional>
#include <span>
#include <string_view>

namespace flow::storage {

// The life of one payment attempt:
//
//   reserved ──► signed ──► submitted ──► settled
//      │            │           │    └──► failed
//      │            │           └───────► unknown ──► settled | failed   (reconciliation)
//      │            ├──► failed  (the credential never left the process)
//      │            └──► unknown
//      ├──► submitted  (rails where producing the credential is the payment: Lightning)
//      └──► released   (given back before any credential existed)
//
// settled, failed and released are final. Money is held against caps in every state except
// failed and released.
enum class AttemptState {
  reserved,
  signed_,  // "signed" (a C++ keyword)
  submitted,
  settled,
  failed,
  unknown,
  released,
};

// Every state, in declaration order.
std::span<const AttemptState> all_attempt_states();
std::string_view attempt_state_name(AttemptState state);
std::optional<AttemptState> attempt_state_from_name(std::string_view name);

// Counted against caps: reserved, signed, submitted, settled, unknown.
bool holds_money(AttemptState state);
bool is_final(AttemptState state);
bool is_transition_allowed(AttemptState from, AttemptState to);

}  // namespace flow::storage

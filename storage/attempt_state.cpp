#include "flow/storage/attempt_state.hpp"

#include <array>
#include <utility>

namespace flow::storage {
namespace {

using S = AttemptState;

constexpr std::array<std::pair<S, std::string_view>, 7> kNames{{
    {S::reserved, "reserved"},
    {S::signed_, "signed"},
    {S::submitted, "submitted"},
    {S::settled, "settled"},
    {S::failed, "failed"},
    {S::unknown, "unknown"},
    {S::released, "released"},
}};

// The diagram in attempt_state.hpp, edge by edge.
constexpr std::array<std::pair<S, S>, 11> kTransitions{{
    {S::reserved, S::signed_},
    {S::reserved, S::submitted},
    {S::reserved, S::released},
    {S::signed_, S::submitted},
    {S::signed_, S::failed},
    {S::signed_, S::unknown},
    {S::submitted, S::settled},
    {S::submitted, S::failed},
    {S::submitted, S::unknown},
    {S::unknown, S::settled},
    {S::unknown, S::failed},
}};

constexpr std::array<S, 7> kAll{S::reserved, S::signed_, S::submitted, S::settled,
                                S::failed,   S::unknown, S::released};

}  // namespace

std::span<const AttemptState> all_attempt_states() {
  return kAll;
}

std::string_view attempt_state_name(AttemptState state) {
  for (const auto& [s, name] : kNames) {
    if (s == state) return name;
  }
  return "invalid";
}

std::optional<AttemptState> attempt_state_from_name(std::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool holds_money(AttemptState state) {
  return state != S::failed && state != S::released;
}

bool is_final(AttemptState state) {
  return state == S::settled || state == S::failed || state == S::released;
}

bool is_transition_allowed(AttemptState from, AttemptState to) {
  for (const auto& [a, b] : kTransitions) {
    if (a == from && b == to) return true;
  }
  return false;
}

}  // namespace flow::storage

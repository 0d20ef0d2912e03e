#include "flow/policy/verdict.hpp"

#include <array>
#include <cstddef>

namespace flow::policy {
namespace {

constexpr std::array<std::string_view, 3> kNames = {"allow", "deny", "review"};

}  // namespace

std::string_view verdict_name(Verdict v) {
  return kNames.at(static_cast<std::size_t>(v));
}

std::optional<Verdict> verdict_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Verdict>(i);
  }
  return std::nullopt;
}

}  // namespace flow::policy

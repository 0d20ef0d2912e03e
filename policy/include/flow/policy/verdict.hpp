#pragma once
#include <optional>
#include <string_view>

namespace flow::policy {

// Allow, deny or review: what a merchant rule says (`action:` in flow.yaml), what evaluation
// decides for an offer and a challenge, and what the decisions table records ("allow", "deny",
// "review"). One enum for all three, since they are the same answer at different moments.
enum class Verdict { allow, deny, review };

std::string_view verdict_name(Verdict v);
std::optional<Verdict> verdict_from_name(std::string_view name);

}  // namespace flow::policy

#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flow/policy/policy_rules.hpp"

namespace flow::policy {

// Finds the merchant rule for a request. A rule matches when its host pattern matches the host
// (case-insensitive, a trailing dot ignored; "*.example.com" matches any name below
// example.com but not example.com itself), its path prefix covers the path (path_has_prefix),
// and its methods, if any, include the method. Among matching rules the most specific wins:
//   1. an exact host beats any wildcard; a longer wildcard suffix beats a shorter one;
//   2. then the longer path prefix (no prefix counts as length 0);
//   3. then a rule that lists methods beats one that does not;
//   4. then the rule written first in the file.
// A port in the host is ignored. Hosts longer than 253 characters match nothing.
class MerchantMatcher {
 public:
  MerchantMatcher() = default;
  explicit MerchantMatcher(std::span<const MerchantRule> rules);

  // Index into the rules given at construction, or nullopt. O(labels in host) hash lookups.
  std::optional<std::size_t> match(std::span<const MerchantRule> rules, std::string_view host,
                                   std::string_view path, std::string_view method) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Host (or wildcard suffix ".example.com") -> rules, most specific first.
  using Index = std::unordered_map<std::string, std::vector<std::uint32_t>, Hash, std::equal_to<>>;

  static std::optional<std::size_t> first_match(const Index& index, std::string_view key,
                                                std::span<const MerchantRule> rules,
                                                std::string_view path, std::string_view method);

  Index exact_;
  Index wildcard_;
};

// The same answer by checking every rule in turn: the reference the index is tested and
// benchmarked against.
std::optional<std::size_t> find_merchant_by_scan(std::span<const MerchantRule> rules,
                                                 std::string_view host, std::string_view path,
                                                 std::string_view method);

}  // namespace flow::policy

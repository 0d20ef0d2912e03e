#include "flow/policy/merchant_matcher.hpp"

#include "flow/payment/ascii.hpp"

#include <algorithm>
#include <array>

#include "flow/policy/request_path.hpp"

namespace flow::policy {
namespace {

constexpr std::size_t kMaxHost = 253;

// A port would make "api.example.com:443" miss its rule (and fall to a laxer one): cut it.
std::string_view without_port(std::string_view host) {
  if (host.starts_with('[')) return host.substr(0, host.find(']') + 1);  // "[::1]:8080"
  return host.substr(0, host.find(':'));
}

// The host lower-cased, without port or trailing dot, in caller storage; empty if too long.
std::string_view normalize_host(std::string_view host, std::array<char, kMaxHost>& buffer) {
  host = without_port(host);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() > buffer.size()) return {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    buffer[i] = payment::ascii_lower(c);
  }
  return {buffer.data(), host.size()};
}

bool method_matches(const MerchantRule& rule, std::string_view method) {
  if (rule.methods.empty()) return true;
  return std::any_of(rule.methods.begin(), rule.methods.end(), [&](const std::string& m) {
    return m.size() == method.size() &&
           std::equal(m.begin(), m.end(), method.begin(), [](char a, char b) {
             return a == (b >= 'a' && b <= 'z' ? static_cast<char>(b - 'a' + 'A') : b);
           });
  });
}

bool request_matches(const MerchantRule& rule, std::string_view path, std::string_view method) {
  return path_has_prefix(path, rule.path_prefix) && method_matches(rule, method);
}

// Rules 2-4 of the precedence: true when `a` is more specific than `b` for the same host.
bool more_specific(const MerchantRule& a, const MerchantRule& b) {
  if (a.path_prefix.size() != b.path_prefix.size()) {
    return a.path_prefix.size() > b.path_prefix.size();
  }
  if (a.methods.empty() != b.methods.empty()) return !a.methods.empty();
  return a.index < b.index;
}

// Rule 1: exact hosts rank above every wildcard; longer wildcard suffixes rank higher. -1: no
// match.
long host_rank(const MerchantRule& rule, std::string_view host) {
  if (!rule.wildcard()) return rule.host == host ? static_cast<long>(kMaxHost) + 1 : -1;
  const std::string_view suffix = rule.wildcard_suffix();
  if (host.size() <= suffix.size() || !host.ends_with(suffix)) return -1;
  return static_cast<long>(suffix.size());
}

}  // namespace

MerchantMatcher::MerchantMatcher(std::span<const MerchantRule> rules) {
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const MerchantRule& r = rules[i];
    if (r.wildcard()) {
      wildcard_[std::string(r.wildcard_suffix())].push_back(i);
    } else {
      exact_[r.host].push_back(i);
    }
  }
  for (Index* index : {&exact_, &wildcard_}) {
    for (auto& [key, list] : *index) {
      std::sort(list.begin(), list.end(), [&](std::uint32_t a, std::uint32_t b) {
        return more_specific(rules[a], rules[b]);
      });
    }
  }
}

std::optional<std::size_t> MerchantMatcher::first_match(const Index& index, std::string_view key,
                                                        std::span<const MerchantRule> rules,
                                                        std::string_view path,
                                                        std::string_view method) {
  const auto it = index.find(key);
  if (it == index.end()) return std::nullopt;
  for (std::uint32_t i : it->second) {
    if (request_matches(rules[i], path, method)) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> MerchantMatcher::match(std::span<const MerchantRule> rules,
                                                  std::string_view raw_host, std::string_view path,
                                                  std::string_view method) const {
  std::array<char, kMaxHost> buffer;
  const std::string_view host = normalize_host(raw_host, buffer);
  if (host.empty()) return std::nullopt;
  if (auto hit = first_match(exact_, host, rules, path, method)) return hit;
  if (wildcard_.empty()) return std::nullopt;
  // Longest suffix first: the dot after the first label, then the next, ...
  for (std::size_t dot = host.find('.', 1); dot != std::string_view::npos;
       dot = host.find('.', dot + 1)) {
    if (auto hit = first_match(wildcard_, host.substr(dot), rules, path, method)) return hit;
  }
  return std::nullopt;
}

std::optional<std::size_t> find_merchant_by_scan(std::span<const MerchantRule> rules,
                                                 std::string_view raw_host, std::string_view path,
                                                 std::string_view method) {
  std::array<char, kMaxHost> buffer;
  const std::string_view host = normalize_host(raw_host, buffer);
  if (host.empty()) return std::nullopt;
  std::optional<std::size_t> best;
  long best_rank = -1;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const long rank = host_rank(rules[i], host);
    if (rank < 0 || !request_matches(rules[i], path, method)) continue;
    if (!best || rank > best_rank || (rank == best_rank && more_specific(rules[i], rules[*best]))) {
      best = i;
      best_rank = rank;
    }
  }
  return best;
}

}  // namespace flow::policy

#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_snapshot.hpp"

namespace flow::policy {

// The policy in force. Readers take the current snapshot and keep it for the whole evaluation;
// reload swaps in a new one only if the file is entirely valid, so a bad file never replaces a
// good policy. Safe to use from any thread. Changes to the file's `proxy:` section are checked
// but take effect only at restart.
class PolicyStore {
 public:
  explicit PolicyStore(std::shared_ptr<const PolicySnapshot> initial);

  std::shared_ptr<const PolicySnapshot> current() const { return current_.load(); }
  // Incremented by every successful reload (starts at 1).
  std::uint64_t generation() const { return generation_.load(); }

  // Decides whether a valid file may replace the one in force: the reason to refuse it, or
  // nullopt to accept it.
  using Vetting = std::function<std::optional<std::string>(const FlowConfig& next)>;

  // Loads and validates `path`, then asks `vet` (when given). On success the new policy is in
  // force and the result is empty; otherwise the result is the error (file:line:column: what
  // was expected) or the refusal, and the policy in force is unchanged.
  std::optional<std::string> reload(const std::string& path, const Vetting& vet = {});

 private:
  std::atomic<std::shared_ptr<const PolicySnapshot>> current_;
  std::atomic<std::uint64_t> generation_{1};
  std::mutex reload_mutex_;  // one reload at a time, so generations match swaps
};

}  // namespace flow::policy

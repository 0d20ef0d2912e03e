#include "flow/policy/policy_store.hpp"

#include <stdexcept>

#include "flow/policy/flow_config.hpp"

namespace flow::policy {

PolicyStore::PolicyStore(std::shared_ptr<const PolicySnapshot> initial)
    : current_(initial ? std::move(initial) : PolicySnapshot::empty()) {}

std::optional<std::string> PolicyStore::reload(const std::string& path, const Vetting& vet) {
  const std::lock_guard<std::mutex> lock(reload_mutex_);
  std::shared_ptr<const PolicySnapshot> next;
  try {
    const FlowConfig config = load_flow_config(path);
    if (vet) {
      if (auto refusal = vet(config)) return refusal;
    }
    next = config.policy;
  } catch (const ConfigError& e) {
    return std::string(e.what());
  } catch (const std::exception& e) {  // e.g. allocation failure: still keep the old policy
    return path + ": " + e.what();
  }
  current_.store(std::move(next));
  generation_.fetch_add(1);
  return std::nullopt;
}

}  // namespace flow::policy

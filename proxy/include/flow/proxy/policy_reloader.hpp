#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_store.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/timer.hpp"

namespace flow::proxy {

// Reloads the policy from flow.yaml on SIGHUP and when the file changes. The directory is
// watched, not the file: a Kubernetes ConfigMap update swaps the `..data` symlink, which
// replaces the file without writing to it. Loading and validation run on libuv's thread pool
// (never on the loop); a file that fails validation, or that policy::reload_refusal refuses
// (every agent, wallet or merchant rule gone), is logged and the policy in force stays. Changes
// to the keys read only at start-up (proxy:, ledger:, wallets:) are logged as not applied.
class PolicyReloader {
 public:
  // What one reload did: applied, or the errors that kept the policy in force; warnings name
  // changed keys that need a restart.
  struct Result {
    bool applied = false;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    std::uint64_t generation = 0;  // the policy store's generation after it
  };
  using Done = std::function<void(const Result&)>;

  // `running`: the file as it was loaded at start-up.
  PolicyReloader(uv_loop_t* loop, Logger& log, std::shared_ptr<policy::PolicyStore> store,
                 std::string path, policy::FlowConfig running);
  ~PolicyReloader();
  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

  // Starts watching the file's directory. Returns false (and logs) when it cannot be watched;
  // SIGHUP still works then.
  bool watch();
  // Asks for a reload; requests that arrive close together or during a reload are coalesced.
  void request(const char* trigger);
  // The same, and `done` runs on the loop with the result of the reload that reads the file
  // after this call (the admin API's POST /v1/policy/reload).
  void request(const char* trigger, Done done);

  const std::string& path() const { return path_; }
  // The configuration in force: the start-up file with the last policy applied.
  std::shared_ptr<const policy::FlowConfig> in_force() const { return in_force_; }

 private:
  struct Watch;
  struct Job;
  void start_job();
  void finished(Job& job);
  void warn_restart_only(const Job& job);
  void tell(Job& job);

  uv_loop_t* loop_;
  Logger& log_;
  std::shared_ptr<policy::PolicyStore> store_;
  std::string path_;
  // The configuration in force: start-up proxy, ledger and wallets, the last policy applied.
  std::shared_ptr<const policy::FlowConfig> in_force_;
  std::string trigger_;
  Timer debounce_;
  bool running_ = false;
  bool again_ = false;
  std::vector<Done> waiting_;  // for the next job to start
  std::unique_ptr<Watch> watch_owner_;
  Watch* watch_ = nullptr;  // owned by libuv while open (closed through close_handle)
  std::shared_ptr<bool> alive_;
};

}  // namespace flow::proxy

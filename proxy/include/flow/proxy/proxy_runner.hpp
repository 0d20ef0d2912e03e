#pragma once
#include <functional>
#include <string>
#include <vector>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_snapshot.hpp"

namespace flow::proxy {

struct RunOptions {
  policy::ProxySettings settings;
  std::string port_file;  // when set, "HOST:PORT\n" is written there once listening
  // The flow.yaml the settings came from (empty: none). Its policy is reloaded on SIGHUP and
  // when the file changes.
  std::string config_path;
  // That file as it was loaded (its own proxy, ledger and wallets, before command-line
  // overrides): a reload is compared with it.
  policy::FlowConfig file;
  std::shared_ptr<const policy::PolicySnapshot> policy = policy::PolicySnapshot::empty();
  // The paid path: enabled when at least one wallet is configured; the ledger is then opened
  // (and locked) at start-up.
  policy::LedgerSettings ledger;
  std::vector<policy::WalletSpec> wallets;
  // HTTPS: flow.yaml's tls: section, `run --ca-dir` over its ca_dir. Interception is on when
  // ca_dir is set.
  policy::TlsSettings tls;
  // The admin API: flow.yaml's admin: section, `run --admin` over its listen ("off": none).
  policy::AdminSettings admin;
  std::string admin_port_file;  // when set, the admin listener's "HOST:PORT\n" is written there
  // Called on the loop thread once listening, with the bound address (the demo uses it).
  std::function<void(const std::string& bound)> on_listening;
};

// Runs the proxy on a fresh libuv loop until SIGTERM/SIGINT (or request_stop()) and the drain
// that follows. Returns the process exit code; start-up errors are printed to stderr. Nothing
// is written (ledger, access log, port file) before check_start (start_check.hpp) has passed.
int run_proxy(const RunOptions& options);

// Asks a running run_proxy() to drain and return; safe from any thread.
void request_stop();

}  // namespace flow::proxy

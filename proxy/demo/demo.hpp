#pragma once
#include <string>

namespace flow::proxy {

struct DemoOptions {
  // A flow.yaml whose payment policy (organization, review, assets, agents, merchants) the demo
  // uses instead of its built-in one. Its proxy, ledger and wallets are never used.
  std::string config;
  bool keep = false;  // keep the temporary directory (ledger, logs, throwaway key)
};

// `402flow demo`: starts the demo merchant and the proxy with a throwaway wallet (its own, in a
// temporary directory, whatever flow.yaml or key the working directory holds) and its built-in
// policy (or the policy sections of --config), makes an allowed paid request, a denied one and a
// prepared-then- executed one through the proxy, and prints the receipts. Returns the process exit
// code.
int run_demo(const DemoOptions& options);

}  // namespace flow::proxy

#pragma once
#include <string>

namespace flow::proxy {

struct DemoOptions {
  std::string config;  // the flow.yaml to run with; default ./flow.yaml, then the repository's
  bool keep = false;   // keep the temporary directory (ledger, logs, throwaway key)
};

// `402flow demo`: starts the demo merchant and the proxy with a throwaway wallet and the
// repository's flow.yaml, makes an allowed paid request, a denied one and a prepared-then-
// executed one through the proxy, and prints the receipts. Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace flow::proxy

// `402flow receipts`, `402flow receipts verify` and `402flow spend`: the operator's views of the
// SQLite ledger. They open it as a shared connection (no owner lock, no recovery), so they are
// safe to run beside a live proxy.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

namespace flow::proxy {

class LedgerCommands {
 public:
  // Registers the subcommands on `app`; their options live in this object.
  explicit LedgerCommands(CLI::App& app);
  ~LedgerCommands();
  LedgerCommands(const LedgerCommands&) = delete;
  LedgerCommands& operator=(const LedgerCommands&) = delete;

  // Whether the parsed command line chose one of these subcommands.
  bool selected() const;
  // Runs it. Exit codes: 0 done (verify: the chain is intact); 1 verify found tampering;
  // 2 the ledger could not be opened or read, or an option was invalid.
  int run() const;

  struct Flags;  // the parsed options (ledger_cli.cpp)

 private:
  std::unique_ptr<Flags> flags_;
  CLI::App* receipts_ = nullptr;
  CLI::App* verify_ = nullptr;
  CLI::App* spend_ = nullptr;
};

}  // namespace flow::proxy

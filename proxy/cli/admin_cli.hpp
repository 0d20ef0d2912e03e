// `402flow approvals list|show|approve|deny`, `402flow attempts`, `402flow reconcile` and
// `402flow decisions`: the operator's commands that talk to the running proxy's admin API
// (`--admin URL`, default admin.listen of `-c flow.yaml`, else http://127.0.0.1:9402), with the
// bearer token of --token-file, FLOW402_ADMIN_TOKEN or the flow.yaml's admin.token_file.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

namespace flow::proxy {

class AdminCommands {
 public:
  // Registers the subcommands on `app`; their options live in this object.
  explicit AdminCommands(CLI::App& app);
  ~AdminCommands();
  AdminCommands(const AdminCommands&) = delete;
  AdminCommands& operator=(const AdminCommands&) = delete;

  bool selected() const;
  // Exit codes: 0 done; 1 the admin API refused (the message is its error: unknown id, a state
  // that forbids the action, ...); 2 a usage error, or the admin API could not be reached.
  int run() const;

  struct Flags;  // the parsed options (admin_cli.cpp)

 private:
  std::unique_ptr<Flags> flags_;
  CLI::App* approvals_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* approve_ = nullptr;
  CLI::App* deny_ = nullptr;
  CLI::App* attempts_ = nullptr;
  CLI::App* reconcile_ = nullptr;
  CLI::App* decisions_ = nullptr;
};

}  // namespace flow::proxy

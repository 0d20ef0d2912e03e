// `402flow ca init`, `402flow ca export` and `402flow ca bundle`: the local CA that interception
// presents to clients (flow/proxy/network/cert_authority.hpp), and the files clients trust it by.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>

namespace flow::proxy {

class CaCommands {
 public:
  // Registers `ca` and its subcommands on `app`; their options live in this object.
  explicit CaCommands(CLI::App& app);
  ~CaCommands();
  CaCommands(const CaCommands&) = delete;
  CaCommands& operator=(const CaCommands&) = delete;

  // Whether the command line chose `ca`.
  bool selected() const;
  // Runs it. Exit codes: 0 done; 1 the CA or a file could not be written or read; 2 a usage
  // error (a missing or invalid option), with a message naming it.
  int run() const;

  struct Flags;  // the parsed options (ca_cli.cpp)

 private:
  std::unique_ptr<Flags> flags_;
  CLI::App* ca_ = nullptr;
  CLI::App* init_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* bundle_ = nullptr;
};

}  // namespace flow::proxy

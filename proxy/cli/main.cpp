// 402flow: the command-line entry point.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/admin_cli.hpp"
#include "cli/ca_cli.hpp"
#include "cli/ledger_cli.hpp"
#include "demo/demo.hpp"
#include "flow/payment/key_file.hpp"
#include "flow/policy/duration.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_summary.hpp"
#include "flow/proxy/inject/inject_server.hpp"
#include "flow/proxy/proxy_runner.hpp"
#include "flow/proxy/start_check.hpp"
#include "merchant/merchant.hpp"

namespace {

using flow::policy::ProxySettings;

constexpr int kExitUsage = 2;

// Parses "443,8443" into ports; throws CLI::ValidationError on anything else.
std::vector<std::uint16_t> parse_ports(const std::string& text) {
  std::vector<std::uint16_t> ports;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma - start);
    std::size_t used = 0;
    unsigned long value = 0;
    try {
      value = std::stoul(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value == 0 || value > 65535) {
      throw CLI::ValidationError("--connect-ports",
                                 "expected ports like 443,8443, got '" + text + "'");
    }
    ports.push_back(static_cast<std::uint16_t>(value));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ports;
}

std::chrono::milliseconds parse_duration_option(const std::string& name, const std::string& text) {
  auto d = flow::policy::parse_duration(text);
  if (!d || d->count() == 0) {
    throw CLI::ValidationError(
        name, "expected a positive duration like 500ms, 10s, 2m, got '" + text + "'");
  }
  return *d;
}

struct RunFlags {
  std::string config;
  std::string listen;
  std::string transparent;
  std::string port_file;
  std::string connect_ports;
  std::uint32_t max_connections = 0;
  std::uint32_t max_header_bytes = 0;
  std::string header_timeout, idle_timeout, connect_timeout, upstream_timeout, tunnel_timeout,
      drain_timeout;
  std::string access_log;
  std::string log_level;
  std::string db;
  std::string agent;
  std::string ca_dir;
  std::string admin;
  std::string admin_port_file;
};

void add_run_options(CLI::App& run, RunFlags& f) {
  run.add_option("-c,--config", f.config, "flow.yaml (optional: without it, safe defaults)")
      ->check(CLI::ExistingFile);
  run.add_option("--listen", f.listen, "HOST:PORT to listen on (default 127.0.0.1:8402)");
  run.add_option("--transparent", f.transparent,
                 "HOST:PORT of a second listener for connections redirected by iptables "
                 "REDIRECT (transparent mode; default: proxy.transparent)");
  run.add_option("--port-file", f.port_file, "write the bound HOST:PORT to this file");
  run.add_option("--connect-ports", f.connect_ports, "ports CONNECT may reach (default 443)");
  run.add_option("--max-connections", f.max_connections, "client connection limit (default 1024)")
      ->check(CLI::Range(1u, 1000000u));
  run.add_option("--max-header-bytes", f.max_header_bytes,
                 "request line + headers limit (default 32768)")
      ->check(CLI::Range(1024u, 1048576u));
  run.add_option("--header-timeout", f.header_timeout, "request head deadline (default 15s)");
  run.add_option("--idle-timeout", f.idle_timeout, "keep-alive idle timeout (default 60s)");
  run.add_option("--connect-timeout", f.connect_timeout, "upstream connect timeout (default 10s)");
  run.add_option("--upstream-timeout", f.upstream_timeout,
                 "upstream response/inactivity timeout (default 60s)");
  run.add_option("--tunnel-idle-timeout", f.tunnel_timeout,
                 "CONNECT tunnel idle timeout (default 5m)");
  run.add_option("--drain-timeout", f.drain_timeout, "SIGTERM grace period (default 30s)");
  run.add_option("--access-log", f.access_log, "access log file, or - for stderr (default -)");
  run.add_option("--log-level", f.log_level, "error|warn|info|debug (default info)")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  run.add_option("--db", f.db, "ledger file (default: ledger.path of flow.yaml, or 402flow.db)");
  run.add_option("--agent", f.agent,
                 "sidecar mode: the agent this proxy pays for (default: FLOW402_AGENT, then "
                 "proxy.agent)");
  run.add_option("--ca-dir", f.ca_dir,
                 "intercept HTTPS with the CA in DIR (402flow ca init); default: tls.ca_dir");
  run.add_option("--admin", f.admin,
                 "HOST:PORT of the admin API (health, readiness, metrics), or off; default: "
                 "admin.listen, else 127.0.0.1:9402");
  run.add_option("--admin-port-file", f.admin_port_file,
                 "write the admin listener's bound HOST:PORT to this file");
}

ProxySettings settings_from(const RunFlags& f, const flow::policy::FlowConfig& config) {
  ProxySettings s = config.proxy;
  if (!f.listen.empty()) s.listen = f.listen;
  if (!f.transparent.empty()) s.transparent = f.transparent;
  if (!f.connect_ports.empty()) s.connect_ports = parse_ports(f.connect_ports);
  if (f.max_connections) s.max_connections = f.max_connections;
  if (f.max_header_bytes) s.max_header_bytes = f.max_header_bytes;
  auto& t = s.timeouts;
  if (!f.header_timeout.empty())
    t.header = parse_duration_option("--header-timeout", f.header_timeout);
  if (!f.idle_timeout.empty()) t.idle = parse_duration_option("--idle-timeout", f.idle_timeout);
  if (!f.connect_timeout.empty())
    t.connect = parse_duration_option("--connect-timeout", f.connect_timeout);
  if (!f.upstream_timeout.empty()) {
    t.upstream = parse_duration_option("--upstream-timeout", f.upstream_timeout);
  }
  if (!f.tunnel_timeout.empty()) {
    t.tunnel_idle = parse_duration_option("--tunnel-idle-timeout", f.tunnel_timeout);
  }
  if (!f.drain_timeout.empty()) t.drain = parse_duration_option("--drain-timeout", f.drain_timeout);
  if (!f.access_log.empty()) s.access_log = f.access_log;
  if (!f.log_level.empty()) s.log_level = f.log_level;
  // Sidecar identity: the flag, then the environment (the pod's name, say), then the file.
  if (!f.agent.empty()) {
    s.agent = f.agent;
  } else if (const char* env = std::getenv("FLOW402_AGENT"); env != nullptr && *env != '\0') {
    s.agent = env;
  }
  return s;
}

// What `run` would start with: the file, then the flags and the environment over it.
flow::proxy::RunOptions run_options(const RunFlags& flags) {
  flow::proxy::RunOptions options;
  if (!flags.config.empty()) options.file = flow::policy::load_flow_config(flags.config);
  const flow::policy::FlowConfig& config = options.file;
  options.settings = settings_from(flags, config);
  options.config_path = flags.config;
  options.policy = config.policy;
  options.port_file = flags.port_file;
  options.ledger = config.ledger;
  if (!flags.db.empty()) options.ledger.path = flags.db;
  options.wallets = config.wallets;
  options.tls = config.tls;
  if (!flags.ca_dir.empty()) options.tls.ca_dir = flags.ca_dir;
  options.admin = config.admin;
  if (!flags.admin.empty()) options.admin.listen = flags.admin;
  options.admin_port_file = flags.admin_port_file;
  return options;
}

// check: the same checks as `run` (flow::proxy::check_start), with the file alone (and the
// environment: FLOW402_AGENT, wallet keys from key_env), then the summary and its warnings.
// Exit codes: 0 valid (warnings or not), 1 a file that does not load, 2 one `run` would refuse.
// With --json, one object on stdout in every case (errors included), the same exit codes.
int check_config(const std::string& path, bool json) {
  RunFlags flags;
  flags.config = path;
  auto fail = [&](int code, const std::string& message) {
    if (json) {
      std::cout << flow::policy::config_error_json(path, message).dump(2) << "\n";
    } else {
      std::fprintf(stderr, "402flow: %s\n", message.c_str());
    }
    return code;
  };
  flow::proxy::RunOptions options;
  try {
    options = run_options(flags);
  } catch (const flow::policy::ConfigError& e) {
    return fail(1, e.what());
  }
  try {
    flow::proxy::check_start(options);
  } catch (const flow::proxy::StartError& e) {
    return fail(2, e.what());
  }
  // Summarized as `run` would start: the flags' and the environment's sidecar agent included.
  flow::policy::FlowConfig effective = options.file;
  effective.proxy = options.settings;
  const auto summary = flow::policy::summarize_config(effective, path);
  if (json) {
    std::cout << flow::policy::config_summary_json(summary, effective).dump(2) << "\n";
  } else {
    flow::policy::write_config_summary(std::cout, summary);
  }
  return 0;
}

// keygen: a fresh EVM key in a new 0600 file; only the address is printed.
int write_key_file(const std::string& path) {
  auto result = flow::payment::write_new_key_file(path);
  if (const auto* error = std::get_if<std::string>(&result)) {
    std::fprintf(stderr, "402flow keygen: %s\n", error->c_str());
    return 1;
  }
  const auto& key = std::get<flow::payment::EvmKey>(result);
  std::printf("address: %s\nkey written to %s (mode 0600); keep it secret and backed up\n",
              flow::payment::evm_address_checksummed(key.address()).c_str(), path.c_str());
  return 0;
}

// The deepest command the command line chose: `402flow ca bogus` -> `ca`.
const CLI::App& chosen_command(const CLI::App& app) {
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  return *at;
}

// A word CLI11 could not place under a command that needs a subcommand: CLI11 only says a
// subcommand is required; this names the word. Empty when that is not the error.
std::string unknown_word_message(const CLI::App& app) {
  const CLI::App& command = chosen_command(app);
  if (command.get_subcommands({}).empty() || command.remaining().empty()) return {};
  const std::string word = command.remaining().front();
  std::string names;
  for (const CLI::App* sub : command.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  const std::string where = &command == &app ? "402flow" : "402flow " + command.get_name();
  if (word.starts_with("-")) return where + ": unknown option '" + word + "'";
  return where + ": unknown command '" + word + "' (expected one of: " + names + ")";
}

// The one home for command-line parse errors, whatever the subcommand: --help and --version
// print and exit 0; a usage error (an unknown option or subcommand, a missing or invalid value)
// prints a message naming it and exits 2, the usual convention, not CLI11's own codes.
int usage_exit(const CLI::App& app, const CLI::ParseError& e) {
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    if (const std::string message = unknown_word_message(app); !message.empty()) {
      std::fprintf(stderr, "%s\nRun with --help for more information.\n", message.c_str());
      return kExitUsage;
    }
  }
  const int code = app.exit(e);
  return code == 0 ? 0 : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"402flow: an egress proxy that pays for HTTP 402 APIs under the operator's policy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("402flow ") + FLOW_VERSION);

  RunFlags run_flags;
  CLI::App* run = app.add_subcommand("run", "run the proxy");
  add_run_options(*run, run_flags);

  std::string check_path;
  CLI::App* check = app.add_subcommand("check", "validate a flow.yaml and summarize it");
  check->add_option("file", check_path, "the flow.yaml to check")->required();
  bool check_json = false;
  check->add_flag("--json", check_json,
                  "print one JSON object: summary, decisions, warnings and errors");

  flow::proxy::DemoOptions demo_options;
  CLI::App* demo =
      app.add_subcommand("demo", "pay a local merchant through the proxy, end to end, and show it");
  demo->add_option("-c,--config", demo_options.config,
                   "use this flow.yaml's payment policy instead of the built-in one (its "
                   "proxy, ledger and wallets are ignored: the demo pays with a throwaway key)")
      ->check(CLI::ExistingFile);
  demo->add_flag("--keep", demo_options.keep, "keep the temporary ledger, logs and throwaway key");

  flow::proxy::MerchantOptions merchant_options;
  CLI::App* merchant = app.add_subcommand(
      "merchant", "run a self-hosted x402 merchant (proof routes) to pay through the proxy");
  merchant->add_option("--listen", merchant_options.listen, "HOST:PORT to listen on")->required();
  merchant->add_option("--port-file", merchant_options.port_file,
                       "write the bound HOST:PORT to this file");
  merchant->add_option("--pay-to", merchant_options.pay_to,
                       "payee address of every route (default " +
                           std::string(flow::proxy::kDefaultMerchantPayTo) + ")");
  merchant->add_flag("--quiet", merchant_options.quiet, "no log line per request");
  merchant->add_option("--tls-cert", merchant_options.tls_cert,
                       "serve HTTPS with this certificate (PEM, then its intermediates)");
  merchant->add_option("--tls-key", merchant_options.tls_key,
                       "the private key (PEM) of --tls-cert");

  std::string keygen_path;
  CLI::App* keygen =
      app.add_subcommand("keygen", "create a new EVM wallet key file and print its address");
  keygen->add_option("--out", keygen_path, "the key file to create (refused if it exists)")
      ->required();

  const flow::proxy::LedgerCommands ledger_commands(app);        // receipts, receipts verify, spend
  const flow::proxy::CaCommands ca_commands(app);                // ca init, ca export, ca bundle
  const flow::proxy::inject::InjectCommand inject_command(app);  // the Kubernetes webhook
  // approvals, attempts, reconcile, decisions: through the running proxy's admin API
  const flow::proxy::AdminCommands admin_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_exit(app, e);
  }

  try {
    if (*run) return flow::proxy::run_proxy(run_options(run_flags));
    if (*check) return check_config(check_path, check_json);
    if (*demo) return flow::proxy::run_demo(demo_options);
    if (*merchant) return flow::proxy::run_merchant(merchant_options);
    if (*keygen) return write_key_file(keygen_path);
    if (ledger_commands.selected()) return ledger_commands.run();
    if (ca_commands.selected()) return ca_commands.run();
    if (inject_command.selected()) return inject_command.run();
    if (admin_commands.selected()) return admin_commands.run();
  } catch (const flow::policy::ConfigError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 1;
  } catch (const CLI::ValidationError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 2;
  }
  return 0;
}

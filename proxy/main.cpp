// 402flow: the command-line entry point.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <string>

#include "flow/policy/duration.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_summary.hpp"
#include "flow/proxy/demo.hpp"
#include "flow/proxy/proxy_runner.hpp"
#include "ledger_cli.hpp"

namespace {

using flow::policy::ProxySettings;

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
  std::string port_file;
  std::string connect_ports;
  std::uint32_t max_connections = 0;
  std::uint32_t max_header_bytes = 0;
  std::string header_timeout, idle_timeout, connect_timeout, upstream_timeout, tunnel_timeout,
      drain_timeout;
  std::string access_log;
  std::string log_level;
};

void add_run_options(CLI::App& run, RunFlags& f) {
  run.add_option("-c,--config", f.config, "flow.yaml (optional: without it, safe defaults)")
      ->check(CLI::ExistingFile);
  run.add_option("--listen", f.listen, "HOST:PORT to listen on (default 127.0.0.1:8402)");
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
}

ProxySettings settings_from(const RunFlags& f, const flow::policy::FlowConfig& config) {
  ProxySettings s = config.proxy;
  if (!f.listen.empty()) s.listen = f.listen;
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
  return s;
}

int check_config(const std::string& path) {
  const auto config = flow::policy::load_flow_config(path);
  flow::policy::write_config_summary(std::cout, config, path);
  return 0;
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

  CLI::App* demo = app.add_subcommand("demo", "show a request going through the proxy, end to end");

  const flow::proxy::LedgerCommands ledger_commands(app);  // receipts, receipts verify, spend

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (*run) {
      flow::proxy::RunOptions options;
      flow::policy::FlowConfig config;
      if (!run_flags.config.empty()) config = flow::policy::load_flow_config(run_flags.config);
      options.settings = settings_from(run_flags, config);
      options.config_path = run_flags.config;
      options.policy = config.policy;
      options.port_file = run_flags.port_file;
      return flow::proxy::run_proxy(options);
    }
    if (*check) return check_config(check_path);
    if (*demo) return flow::proxy::run_demo();
    if (ledger_commands.selected()) return ledger_commands.run();
  } catch (const flow::policy::ConfigError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 1;
  } catch (const CLI::ValidationError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 2;
  }
  return 0;
}

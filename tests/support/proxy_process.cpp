#include "support/proxy_process.hpp"

#include <algorithm>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef FLOW_BINARY
#error "FLOW_BINARY must name the 402flow binary under test"
#endif

namespace flow::testing {
namespace {

std::size_t status_field_kib(const std::string& status, std::string_view field) {
  auto at = status.find(std::string(field) + ":");
  if (at == std::string::npos) return 0;
  std::istringstream in(status.substr(at + field.size() + 1));
  std::size_t kib = 0;
  in >> kib;
  return kib;
}

}  // namespace

std::optional<std::uint16_t> read_port_file(const std::string& path) {
  std::string text = read_file(path);
  // Written atomically (tmp + rename) as "HOST:PORT\n"; tolerate a missing newline anyway.
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string digits;
  for (char c : text.substr(colon + 1)) {
    if (c >= '0' && c <= '9') digits += c;
  }
  if (digits.empty()) return std::nullopt;
  unsigned long port = std::stoul(digits);
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::string flow_binary() {
  return FLOW_BINARY;
}

ProxyProcess::ProxyProcess(std::vector<std::string> extra_args,
                           std::vector<std::string> extra_env) {
  std::vector<std::string> argv = {flow_binary(),  "run",
                                   "--listen",     "127.0.0.1:0",
                                   "--port-file",  dir_.file("port"),
                                   "--access-log", dir_.file("access.log")};
  const bool admin_chosen =
      std::find(extra_args.begin(), extra_args.end(), "--admin") != extra_args.end();
  if (!admin_chosen) {
    argv.insert(argv.end(),
                {"--admin", "127.0.0.1:0", "--admin-port-file", dir_.file("admin-port")});
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  SpawnOptions options;
  options.stdout_path = dir_.file("stdout.log");
  options.stderr_path = dir_.file("stderr.log");
  options.extra_env = std::move(extra_env);
  child_ = std::make_unique<ChildProcess>(argv, options);

  Deadline deadline = default_deadline();
  for (;;) {
    if (auto port = read_port_file(dir_.file("port"))) {
      port_ = *port;
      // Written before the proxy's own port file.
      if (auto admin = read_port_file(dir_.file("admin-port"))) admin_port_ = *admin;
      return;
    }
    if (!child_->running()) {
      throw std::runtime_error("402flow exited before listening (" +
                               child_->exit_status()->describe() + "); stderr:\n" + stderr_text());
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("402flow did not write its port file in time; stderr:\n" +
                               stderr_text());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling for the port file
  }
}

MemoryUsage ProxyProcess::memory_usage() const {
  std::string status = read_file("/proc/" + std::to_string(pid()) + "/status");
  return {status_field_kib(status, "VmRSS"), status_field_kib(status, "VmHWM")};
}

std::string ProxyProcess::stderr_text() const {
  return read_file(dir_.file("stderr.log"));
}

std::vector<std::string> ProxyProcess::access_log_lines() const {
  std::string text = read_file(dir_.file("access.log"));
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    if (nl > start) lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<nlohmann::json> ProxyProcess::wait_for_access_log(std::size_t count,
                                                              Deadline deadline) const {
  for (;;) {
    auto lines = access_log_lines();
    if (lines.size() >= count) {
      std::vector<nlohmann::json> entries;
      for (const auto& line : lines) entries.push_back(nlohmann::json::parse(line));
      return entries;
    }
    if (Clock::now() >= deadline) {
      std::string seen;
      for (const auto& line : lines) seen += line + "\n";
      throw std::runtime_error("expected " + std::to_string(count) + " access log lines, got " +
                               std::to_string(lines.size()) + ":\n" + seen);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the log file
  }
}

}  // namespace flow::testing

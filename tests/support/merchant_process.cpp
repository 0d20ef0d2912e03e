#include "support/merchant_process.hpp"

#include <stdexcept>
#include <thread>

#include "support/proxy_process.hpp"

namespace flow::testing {
namespace {

std::optional<std::uint16_t> port_from_file(const std::string& path) {
  const std::string text = read_file(path);  // "HOST:PORT\n", written with tmp + rename
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || text.empty() || text.back() != '\n') return std::nullopt;
  unsigned long port = 0;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

}  // namespace

MerchantProcess::MerchantProcess(std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {flow_binary(), "merchant",    "--listen",
                                   "127.0.0.1:0", "--port-file", dir_.file("port")};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  SpawnOptions options;
  options.stdout_path = dir_.file("stdout.log");
  options.stderr_path = dir_.file("stderr.log");
  child_ = std::make_unique<ChildProcess>(argv, options);

  const Deadline deadline = default_deadline();
  for (;;) {
    if (auto port = port_from_file(dir_.file("port"))) {
      port_ = *port;
      return;
    }
    if (!child_->running()) {
      throw std::runtime_error("402flow merchant exited before listening (" +
                               child_->exit_status()->describe() + "); stderr:\n" + stderr_text());
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("402flow merchant did not write its port file in time; stderr:\n" +
                               stderr_text());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling for the port file
  }
}

std::string MerchantProcess::stderr_text() const {
  return read_file(dir_.file("stderr.log"));
}

}  // namespace flow::testing

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

MerchantProcess::MerchantProcess(std::vector<std::string> extra_args)
    : MerchantProcess(MerchantProcessOptions{std::move(extra_args), false}) {}

MerchantProcess::MerchantProcess(MerchantProcessOptions options) {
  std::vector<std::string> argv = {flow_binary(), "merchant",    "--listen",
                                   "127.0.0.1:0", "--port-file", dir_.file("port")};
  if (options.tls) {
    identity_ = std::make_unique<TlsIdentity>();
    write_pem_files(*identity_, dir_.file("cert.pem"), dir_.file("key.pem"));
    argv.insert(argv.end(),
                {"--tls-cert", dir_.file("cert.pem"), "--tls-key", dir_.file("key.pem")});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  SpawnOptions spawn;
  spawn.stdout_path = dir_.file("stdout.log");
  spawn.stderr_path = dir_.file("stderr.log");
  child_ = std::make_unique<ChildProcess>(argv, spawn);

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

const TlsIdentity& MerchantProcess::tls_identity() const {
  if (!identity_) throw std::logic_error("this merchant serves plain HTTP");
  return *identity_;
}

std::string MerchantProcess::ca_file() const {
  if (!identity_) throw std::logic_error("this merchant serves plain HTTP");
  return dir_.file("cert.pem");
}

ClientConnection MerchantProcess::connect(std::string_view host, Deadline deadline) const {
  ClientConnection client(port_, deadline);
  if (identity_) client.start_tls(*identity_, host, deadline);
  return client;
}

std::string MerchantProcess::stderr_text() const {
  return read_file(dir_.file("stderr.log"));
}

}  // namespace flow::testing

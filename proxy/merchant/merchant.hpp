#pragma once
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "flow/proxy/log_writer.hpp"

namespace flow::proxy {

// `402flow merchant`: a self-hosted x402 merchant with fixed "proof routes" (/free, /v2/weather,
// /v1/weather, /v2/price-change, ...) that verifies real signed payments and settles them
// locally (never on chain). Users pay it through the proxy to see the paid path work; the tests
// and the benchmark use it as the far end of that path. GET /_merchant/payments lists what it
// recorded, so a test can assert that a payment happened exactly once.

// The payee of every route unless --pay-to says otherwise.
inline constexpr std::string_view kDefaultMerchantPayTo =
    "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

struct MerchantOptions {
  std::string listen;     // HOST:PORT; the host an IP literal or localhost; port 0 = any
  std::string port_file;  // when set, "HOST:PORT\n" is written there once listening
  std::string pay_to = std::string(kDefaultMerchantPayTo);
  // Both set: HTTPS with this certificate (PEM, then its intermediates) and key; both empty: HTTP.
  std::string tls_cert;
  std::string tls_key;
  bool quiet = false;  // no per-request log line
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;  // request bodies are read and discarded
  std::chrono::milliseconds idle_timeout{60'000};
  // Called on the loop thread once listening, with the bound address.
  std::function<void(const std::string& bound)> on_listening;
};

// The merchant on a libuv loop the caller runs: its listener and connections. Loop thread only.
class MerchantServer {
 public:
  // Throws std::runtime_error when options.pay_to is not an EVM address, or the TLS certificate
  // or key is given alone, cannot be read or does not go together (the message names the file).
  MerchantServer(uv_loop_t* loop, const MerchantOptions& options, Logger& log);
  ~MerchantServer();
  MerchantServer(const MerchantServer&) = delete;
  MerchantServer& operator=(const MerchantServer&) = delete;

  // Binds and listens; throws std::runtime_error with an operator-facing message on failure.
  void start();
  // "127.0.0.1:4021" with the port actually bound.
  std::string bound_address() const;
  // Closes the listener and every connection at once (no drain: nothing here is worth waiting
  // for); the loop then runs out once the close callbacks have run.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs the merchant on a fresh loop until SIGINT or SIGTERM; returns the process exit code
// (0 on a signal, 2 on a start-up error, printed to stderr).
int run_merchant(const MerchantOptions& options);

}  // namespace flow::proxy

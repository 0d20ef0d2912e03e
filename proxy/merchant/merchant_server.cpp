// `402flow merchant`: the merchant's routes (merchant_routes.cpp) served by the shared HTTP server
// (plain, or TLS with --tls-cert/--tls-key), and the run loop of the command.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <vector>

#include "flow/payment/evm_address.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/port_file.hpp"
#include "flow/proxy/network/tls_context.hpp"
#include "merchant/merchant.hpp"
#include "merchant/merchant_routes.hpp"

namespace flow::proxy {
namespace {

// The merchant's routes behind the shared HTTP server, with a log line per request.
class MerchantService final : public HttpService {
 public:
  MerchantService(const payment::EvmAddress& pay_to, bool https, bool quiet, Logger& log)
      : routes_(pay_to, https ? "https" : "http"), quiet_(quiet), log_(log) {}

  void handle(const ServedRequest& served, ServedAnswer& out) override {
    merchant::MerchantRequest request;
    request.method = served.head.method;
    request.path = served.path;
    request.host = served.host;
    for (const auto& h : served.head.headers) {
      if (iequals(h.name, "payment-signature")) {
        request.payment_signature = &h.value;
      } else if (iequals(h.name, "x-payment")) {
        request.x_payment = &h.value;
      }
    }
    routes_.handle(request, payment::unix_now(), answer_);
    log_request(served, answer_);
    out.status = answer_.status;
    out.drop = answer_.drop;  // the payment is settled; the connection goes away unanswered
    out.headers.swap(answer_.headers);
    out.body.swap(answer_.body);
  }

 private:
  void log_request(const ServedRequest& served, const merchant::MerchantAnswer& answer) {
    if (quiet_) return;
    std::string& f = log_fields_;
    f = "\"method\":";
    append_json_string(f, served.head.method);
    f += ",\"path\":";
    append_json_string(f, served.path);
    f += ",\"status\":";
    f += answer.drop ? "\"dropped\"" : std::to_string(answer.status);
    if (!answer.payer.empty()) {
      f += ",\"payer\":";
      append_json_string(f, answer.payer);
    }
    if (!answer.error_reason.empty()) {
      f += ",\"reason\":";
      append_json_string(f, answer.error_reason);
    }
    log_.info("request", f);
  }

  merchant::MerchantRoutes routes_;
  merchant::MerchantAnswer answer_;  // reused by every request: one request at a time per loop
  std::string log_fields_;
  bool quiet_;
  Logger& log_;
};

// The server context of --tls-cert/--tls-key; null when neither is given.
std::shared_ptr<SSL_CTX> load_tls_context(const MerchantOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) return nullptr;
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together: give both to serve HTTPS");
  }
  return make_server_context_from_files(options.tls_cert, options.tls_key);
}

HttpServerOptions server_options(const MerchantOptions& options) {
  HttpServerOptions o;
  o.listen = options.listen;
  o.max_header_bytes = options.max_header_bytes;
  o.max_body_bytes = options.max_body_bytes;
  o.idle_timeout = options.idle_timeout;
  o.tls = load_tls_context(options);
  return o;
}

}  // namespace

struct MerchantServer::Impl {
  Impl(uv_loop_t* loop, const MerchantOptions& options, Logger& log,
       const payment::EvmAddress& pay_to)
      : service(pay_to, !options.tls_cert.empty(), options.quiet, log),
        server(loop, server_options(options), service, log) {}

  MerchantService service;
  HttpServer server;
};

MerchantServer::MerchantServer(uv_loop_t* loop, const MerchantOptions& options, Logger& log) {
  const auto pay_to = payment::parse_evm_address(options.pay_to);
  if (!pay_to) {
    throw std::runtime_error("invalid --pay-to '" + options.pay_to +
                             "': expected an EVM address, 0x and 40 hex digits");
  }
  impl_ = std::make_unique<Impl>(loop, options, log, *pay_to);
}

MerchantServer::~MerchantServer() = default;

void MerchantServer::start() {
  impl_->server.start();
}

std::string MerchantServer::bound_address() const {
  return impl_->server.bound_address();
}

void MerchantServer::stop() {
  impl_->server.stop();
}

namespace {

struct SignalWatch {
  uv_signal_t handle{};
  std::function<void()> on_signal;
};

}  // namespace

int run_merchant(const MerchantOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    LogWriter diagnostics(&loop, STDERR_FILENO, false);
    Logger log(diagnostics, LogLevel::info);
    std::unique_ptr<MerchantServer> server;
    try {
      server = std::make_unique<MerchantServer>(&loop, options, log);
      server->start();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "402flow merchant: %s\n", e.what());
      exit_code = 2;
      server.reset();
    }
    if (server) {
      std::vector<std::unique_ptr<SignalWatch>> signals;
      for (int signum : {SIGTERM, SIGINT}) {
        auto watch = std::make_unique<SignalWatch>();
        watch->on_signal = [&, signum] {
          log.info("shutting down", std::string("\"reason\":\"") +
                                        (signum == SIGTERM ? "SIGTERM" : "SIGINT") + "\"");
          server->stop();
          uv_stop(&loop);
        };
        uv_signal_init(&loop, &watch->handle);
        watch->handle.data = watch.get();
        uv_signal_start(
            &watch->handle,
            [](uv_signal_t* h, int) { static_cast<SignalWatch*>(h->data)->on_signal(); }, signum);
        signals.push_back(std::move(watch));
      }
      // Signal handlers are in place before anyone can learn the port.
      const std::string bound = server->bound_address();
      if (!options.port_file.empty() && !write_port_file(options.port_file, bound)) {
        std::fprintf(stderr, "402flow merchant: cannot write the port file %s\n",
                     options.port_file.c_str());
        exit_code = 2;
      } else {
        log.info("merchant listening",
                 "\"addr\":\"" + bound + "\",\"payTo\":\"" +
                     payment::evm_address_checksummed(*payment::parse_evm_address(options.pay_to)) +
                     "\"" + (options.tls_cert.empty() ? "" : ",\"tls\":true"));
        if (options.on_listening) options.on_listening(bound);
        uv_run(&loop, UV_RUN_DEFAULT);
      }
      for (auto& s : signals) {
        auto* handle = reinterpret_cast<uv_handle_t*>(&s->handle);
        close_handle(handle, std::move(s));
      }
      log.info("stopped");
    }
    server.reset();
    diagnostics.flush_blocking();
  }
  close_loop(&loop);
  return exit_code;
}

}  // namespace flow::proxy

// `402flow inject`: the admission webhook served by the shared HTTP server over TLS, its run
// loop, and its command-line options.
#include "flow/proxy/inject/inject_server.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <vector>

#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/network/port_file.hpp"
#include "flow/proxy/network/tls_context.hpp"

namespace flow::proxy::inject {
namespace {

// The API server sends at most 3 MiB in a request; a pod's review is far below.
constexpr std::size_t kMaxReviewBytes = 3 * 1024 * 1024;

class WebhookService final : public HttpService {
 public:
  WebhookService(const InjectServerOptions& options, Logger& log) : options_(options), log_(log) {}

  void handle(const ServedRequest& served, ServedAnswer& out) override {
    if (served.path == "/livez" && served.head.method == "GET") {
      out.status = 200;
      out.body = R"({"live":true})";
      return;
    }
    if (served.path != "/mutate") {
      out.status = 404;
      out.body = json_error_body("not found: the webhook serves POST /mutate and GET /livez");
      return;
    }
    if (served.head.method != "POST") {
      out.status = 405;
      out.headers = "Allow: POST\r\n";
      out.body = json_error_body("/mutate takes POST with an AdmissionReview");
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    ReviewOutcome outcome = answer_review(served.body, options_.inject, options_.failure_mode);
    out.status = 200;
    out.body = std::move(outcome.body);
    log_review(outcome, std::chrono::steady_clock::now() - started);
  }

 private:
  void log_review(const ReviewOutcome& o, std::chrono::steady_clock::duration took) {
    const bool malformed = o.decision == "malformed";
    if (options_.quiet && !malformed) return;
    std::string f = "\"uid\":";
    append_json_string(f, o.uid);
    f += ",\"namespace\":";
    append_json_string(f, o.namespace_name);
    f += ",\"pod\":";
    append_json_string(f, o.pod_name);
    f += ",\"decision\":";
    append_json_string(f, o.decision);
    if (!o.detail.empty()) {
      f += ",\"detail\":";
      append_json_string(f, o.detail);
    }
    f += ",\"us\":" +
         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    if (malformed) {
      log_.warn("review", f);
    } else {
      log_.info("review", f);
    }
  }

  const InjectServerOptions& options_;
  Logger& log_;
};

HttpServerOptions server_options(const InjectServerOptions& options) {
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    throw std::runtime_error(
        "--tls-cert and --tls-key are required: the API server calls "
        "admission webhooks over HTTPS only");
  }
  HttpServerOptions o;
  o.listen = options.listen;
  o.max_body_bytes = kMaxReviewBytes;
  o.tls = make_server_context_from_files(options.tls_cert, options.tls_key);
  return o;
}

struct SignalWatch {
  uv_signal_t handle{};
  std::function<void()> on_signal;
};

std::vector<std::unique_ptr<SignalWatch>> stop_on_signals(uv_loop_t* loop, HttpServer& server,
                                                          Logger& log) {
  std::vector<std::unique_ptr<SignalWatch>> signals;
  for (int signum : {SIGTERM, SIGINT}) {
    auto watch = std::make_unique<SignalWatch>();
    watch->on_signal = [&server, &log, loop, signum] {
      log.info("shutting down",
               std::string("\"reason\":\"") + (signum == SIGTERM ? "SIGTERM" : "SIGINT") + "\"");
      server.stop();
      uv_stop(loop);
    };
    uv_signal_init(loop, &watch->handle);
    watch->handle.data = watch.get();
    uv_signal_start(
        &watch->handle,
        [](uv_signal_t* h, int) { static_cast<SignalWatch*>(h->data)->on_signal(); }, signum);
    signals.push_back(std::move(watch));
  }
  return signals;
}

int serve(uv_loop_t* loop, const InjectServerOptions& options, Logger& log) {
  WebhookService service(options, log);
  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(loop, server_options(options), service, log);
    server->start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "402flow inject: %s\n", e.what());
    return 2;
  }
  auto signals = stop_on_signals(loop, *server, log);
  int exit_code = 0;
  const std::string bound = server->bound_address();
  if (!options.port_file.empty() && !write_port_file(options.port_file, bound)) {
    std::fprintf(stderr, "402flow inject: cannot write the port file %s\n",
                 options.port_file.c_str());
    exit_code = 2;
    server->stop();
  } else {
    log.info("injector listening",
             "\"addr\":\"" + bound + "\",\"image\":\"" + options.inject.image +
                 "\",\"failure\":\"" +
                 (options.failure_mode == FailureMode::deny ? "deny" : "allow") + "\"");
  }
  if (exit_code == 0) uv_run(loop, UV_RUN_DEFAULT);
  for (auto& s : signals) {
    auto* handle = reinterpret_cast<uv_handle_t*>(&s->handle);
    close_handle(handle, std::move(s));
  }
  server.reset();
  log.info("stopped");
  return exit_code;
}

}  // namespace

int run_inject_server(const InjectServerOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    LogWriter diagnostics(&loop, STDERR_FILENO, false);
    Logger log(diagnostics, LogLevel::info);
    exit_code = serve(&loop, options, log);
    diagnostics.flush_blocking();
  }
  close_loop(&loop);
  return exit_code;
}

InjectCommand::InjectCommand(CLI::App& app) : options_(std::make_unique<InjectServerOptions>()) {
  InjectServerOptions& o = *options_;
  InjectOptions& i = o.inject;
  command_ = app.add_subcommand(
      "inject", "run the Kubernetes admission webhook that adds the 402flow sidecar to pods");
  command_->add_option("--listen", o.listen, "HOST:PORT to listen on")->required();
  command_->add_option("--tls-cert", o.tls_cert, "serving certificate (PEM, then intermediates)")
      ->required();
  command_->add_option("--tls-key", o.tls_key, "the private key (PEM) of --tls-cert")->required();
  command_->add_option("--port-file", o.port_file, "write the bound HOST:PORT to this file");
  command_->add_flag("--quiet", o.quiet, "no log line per review (malformed ones still are)");
  command_
      ->add_option("--failure-mode", failure_mode_,
                   "a review that cannot be read: allow (admit without the sidecar, with a "
                   "warning) or deny (default allow)")
      ->check(CLI::IsMember({"allow", "deny"}));
  command_
      ->add_option("--sidecar-mode", sidecar_mode_,
                   "native (init container with restartPolicy: Always, Kubernetes >= 1.29) "
                   "or container (older clusters); default native")
      ->check(CLI::IsMember({"native", "container"}));
  command_->add_option("--image", i.image, "the sidecar's image (default " + i.image + ")");
  command_->add_option("--image-pull-policy", i.image_pull_policy, "default IfNotPresent")
      ->check(CLI::IsMember({"Always", "IfNotPresent", "Never"}));
  command_->add_option("--config-map", i.config_map,
                       "ConfigMap holding flow.yaml (default " + i.config_map + ")");
  command_->add_option("--ca-secret", i.ca_secret,
                       "Secret holding ca.pem and ca.key (default " + i.ca_secret + ")");
  command_->add_option("--wallet-secret", i.wallet_secret,
                       "Secret holding the wallet key files (default " + i.wallet_secret + ")");
  command_->add_option(
      "--admin-token-secret", i.admin_token_secret,
      "Secret holding the admin token under `token` (default " + i.admin_token_secret + ")");
  command_->add_option("--no-proxy", i.no_proxy,
                       "NO_PROXY of app containers, before the pod's IP and excluded hosts "
                       "(default " +
                           i.no_proxy + ")");
  command_->add_option("--proxy-port", i.proxy_port, "the sidecar's proxy port on 127.0.0.1 (8402)")
      ->check(CLI::Range(1, 65535));
  command_
      ->add_option("--admin-port", i.admin_port, "the sidecar's admin port: probes, metrics (9402)")
      ->check(CLI::Range(1, 65535));
  command_->add_option("--sidecar-uid", i.uid, "the sidecar's user and group (default 10402)")
      ->check(CLI::Range(1, 2147483647));
}

InjectCommand::~InjectCommand() = default;

bool InjectCommand::selected() const {
  return command_->parsed();
}

int InjectCommand::run() const {
  InjectServerOptions options = *options_;
  options.failure_mode = failure_mode_ == "deny" ? FailureMode::deny : FailureMode::allow;
  options.inject.mode = sidecar_mode_ == "container" ? SidecarMode::container : SidecarMode::native;
  return run_inject_server(options);
}

}  // namespace flow::proxy::inject

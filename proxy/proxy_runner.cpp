#include "flow/proxy/proxy_runner.hpp"
#include "flow/proxy/network/port_file.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "flow/payment/signer_registry.hpp"
#include "flow/proxy/admin/admin_server.hpp"
#include "flow/proxy/admin/approval_webhook.hpp"
#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/paid/paid_attempt.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/policy_reloader.hpp"
#include "flow/proxy/server.hpp"
#include "flow/proxy/start_check.hpp"

namespace flow::proxy {
namespace {

std::atomic<uv_async_t*> g_stop_async{nullptr};

// The loop-side handles of run_proxy, closed through close_handle when the run ends.
struct SignalWatch {
  uv_signal_t handle{};
  std::function<void(int)> on_signal;
};
struct StopAsync {
  uv_async_t handle{};
  std::function<void()> on_stop;
};

storage::UrlQueryMode url_query_mode(const std::string& name) {
  if (name == "keep") return storage::UrlQueryMode::keep;
  if (name == "drop") return storage::UrlQueryMode::drop;
  return storage::UrlQueryMode::hash;
}

// The paid path's services, or null when no wallet is configured. Throws with an
// operator-facing message when a wallet or the ledger cannot be opened.
std::unique_ptr<PaymentServices> open_payments(uv_loop_t* loop, const RunOptions& options,
                                               payment::SignerRegistry signers,
                                               std::shared_ptr<policy::PolicyStore> policy,
                                               Logger& log) {
  if (signers.empty()) return nullptr;
  storage::LedgerOptions ledger_options;
  ledger_options.path = options.ledger.path;
  ledger_options.mode = storage::OpenMode::owner;
  ledger_options.url_query = url_query_mode(options.ledger.url_query);
  auto ledger = std::make_unique<storage::Ledger>(ledger_options);
  const auto& recovery = ledger->recovery();
  if (!recovery.empty()) {
    std::string detail;
    append_json_string(detail, recovery.summary());
    log.warn("ledger recovery", "\"summary\":" + detail + ",\"see\":\"402flow receipts\"");
  }
  for (const auto& w : signers.entries()) {
    log.info("wallet", "\"name\":\"" + w.name + "\",\"address\":\"" + w.signer->address() + "\"");
  }
  auto writer = std::make_unique<storage::LedgerWriter>(std::move(ledger));
  return std::make_unique<PaymentServices>(loop, std::move(policy), std::move(writer),
                                           std::move(signers), ledger_options.url_query);
}

// Interception on or off, and every merchant whose upstream TLS is not verified (loudly).
void log_tls(Logger& log, const policy::PolicySnapshot& policy, const TlsService& tls) {
  if (tls.intercepting()) {
    std::string fields = "\"ca_dir\":";
    append_json_string(fields, tls.settings().ca_dir);
    log.info("https interception on", fields);
  }
  for (const policy::MerchantRule& rule : policy.definition().merchants) {
    if (!rule.insecure_upstream) continue;
    std::string fields = "\"merchant\":";
    append_json_string(fields, rule.name);
    log.warn("upstream TLS to this merchant is NOT verified (insecure_upstream: true)", fields);
  }
}

// The admin listener, bound; null when admin.listen is off, or when the default address is taken
// (another proxy on this host has it: this one runs without, and says so). Any other failure
// throws: an address the operator chose must be served.
std::unique_ptr<AdminServer> start_admin(uv_loop_t* loop, const RunOptions& options,
                                         const std::vector<AdminCredential>& credentials,
                                         Server& server,
                                         std::shared_ptr<policy::PolicyStore> policy, Logger& log) {
  if (!options.admin.enabled()) return nullptr;
  AdminSources sources;
  sources.server = &server;
  sources.wallets_configured = !options.wallets.empty();
  sources.policy = std::move(policy);
  std::vector<AdminToken> tokens;
  for (const auto& c : credentials) tokens.emplace_back(c.name, c.token);
  auto admin = std::make_unique<AdminServer>(loop, options.admin.listen, std::move(tokens),
                                             std::move(sources), log);
  try {
    admin->start();
  } catch (const ListenError& e) {
    if (e.uv_code != UV_EADDRINUSE ||
        options.admin.listen != policy::AdminSettings::kDefaultListen) {
      throw;
    }
    std::string fields = "\"addr\":";
    append_json_string(fields, options.admin.listen);
    log.warn("admin API not started: its default address is in use (set admin.listen or --admin)",
             fields);
    return nullptr;
  }
  return admin;
}

}  // namespace

void request_stop() {
  if (uv_async_t* a = g_stop_async.load()) uv_async_send(a);
}

int run_proxy(const RunOptions& options) {
  StartPlan plan;
  try {
    plan = check_start(options);
  } catch (const StartError& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 2;
  }
  std::unique_ptr<TlsService> tls;
  try {
    tls = std::make_unique<TlsService>(options.tls, plan.ca);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "402flow: %s\n", e.what());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a peer that closed is an EPIPE on the write, not a signal
  // Outlives the loop: a reload still running on the thread pool holds it too.
  auto policy_store = std::make_shared<policy::PolicyStore>(options.policy);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    LogWriter diagnostics(&loop, STDERR_FILENO, false);
    std::unique_ptr<LogWriter> access_file;
    const std::string& access_path = options.settings.access_log;
    if (access_path != "-") {
      const int fd = LogWriter::open_file(access_path);
      if (fd < 0) {
        std::fprintf(stderr, "402flow: cannot open access log %s: %s\n", access_path.c_str(),
                     uv_strerror(fd));
        uv_loop_close(&loop);
        return 2;
      }
      access_file = std::make_unique<LogWriter>(&loop, fd, true);
    }
    Logger log(diagnostics, parse_log_level(options.settings.log_level));
    auto server = std::make_unique<Server>(&loop, options.settings, log,
                                           access_file ? *access_file : diagnostics);
    server->set_policy_source([policy_store] { return policy_store->current(); });
    server->set_tls(std::move(tls));
    log_tls(log, *options.policy, server->tls());
    std::unique_ptr<PaymentServices> payments;
    std::unique_ptr<AdminServer> admin;
    std::unique_ptr<ApprovalWebhook> webhook;
    bool started = false;
    try {
      // Bound first: a listener that cannot bind (address in use) leaves no ledger behind.
      server->start();
      admin = start_admin(&loop, options, plan.admin_tokens, *server, policy_store, log);
      payments = open_payments(&loop, options, std::move(plan.signers), policy_store, log);
      if (admin) admin->attach_payments(payments.get());
      webhook = open_approval_webhook(&loop, options.admin.webhook, std::move(plan.webhook_secret),
                                      payments.get(), policy_store, log);
      // Every exchange gets the paid path's hooks: with no wallet they still validate the
      // agent's control headers, and every 402 is relayed unpaid.
      server->set_hooks_factory([services = payments.get()](Exchange& exchange) {
        return std::make_unique<PaidAttempt>(exchange, services);
      });
      started = true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "402flow: %s\n", e.what());
      exit_code = 2;
    }
    if (started) {
      bool stopping = false;
      auto stop = [&](const char* why) {
        if (stopping) return;
        stopping = true;
        log.info("shutting down", std::string("\"reason\":\"") + why + "\"");
        server->begin_drain([&loop] { uv_stop(&loop); });
      };
      std::unique_ptr<PolicyReloader> reloader;
      if (!options.config_path.empty()) {
        reloader = std::make_unique<PolicyReloader>(&loop, log, policy_store, options.config_path,
                                                    options.file);
        reloader->watch();
      }
      if (admin) admin->attach_reloader(reloader.get());
      std::vector<std::unique_ptr<SignalWatch>> signals;
      for (int signum : {SIGTERM, SIGINT, SIGHUP}) {
        auto watch = std::make_unique<SignalWatch>();
        watch->on_signal = [&, signum](int) {
          if (signum == SIGHUP) {
            if (reloader) {
              reloader->request("SIGHUP");
            } else {
              log.warn("SIGHUP received, but the proxy runs without a configuration file");
            }
            return;
          }
          stop(signum == SIGTERM ? "SIGTERM" : "SIGINT");
        };
        uv_signal_init(&loop, &watch->handle);
        watch->handle.data = watch.get();
        uv_signal_start(
            &watch->handle,
            [](uv_signal_t* h, int s) { static_cast<SignalWatch*>(h->data)->on_signal(s); },
            signum);
        signals.push_back(std::move(watch));
      }
      auto async = std::make_unique<StopAsync>();
      async->on_stop = [&] { stop("requested"); };
      uv_async_init(&loop, &async->handle,
                    [](uv_async_t* h) { static_cast<StopAsync*>(h->data)->on_stop(); });
      async->handle.data = async.get();
      g_stop_async.store(&async->handle);

      // Signal handlers are in place before anyone can learn the port (tests and supervisors
      // may signal the moment the port file appears).
      // The admin port file first: whoever waits for the proxy's port file finds both.
      if (admin) {
        const std::string admin_bound = admin->bound_address();
        if (!options.admin_port_file.empty() &&
            !write_port_file(options.admin_port_file, admin_bound)) {
          std::fprintf(stderr, "402flow: cannot write the admin port file %s\n",
                       options.admin_port_file.c_str());
          exit_code = 2;
          stop("port file");
        }
        log.info("admin API listening", "\"addr\":\"" + admin_bound + "\",\"token\":" +
                                            (plan.admin_tokens.empty() ? "false" : "true"));
      }
      const std::string bound = server->bound_address();
      if (!options.port_file.empty() && !write_port_file(options.port_file, bound)) {
        std::fprintf(stderr, "402flow: cannot write the port file %s\n", options.port_file.c_str());
        exit_code = 2;
        stop("port file");
      }
      log.info("listening", "\"addr\":\"" + bound + "\"");
      if (const std::string transparent = server->transparent_address(); !transparent.empty()) {
        log.info("listening transparent", "\"addr\":\"" + transparent + "\"");
      }
      if (options.on_listening) options.on_listening(bound);

      uv_run(&loop, UV_RUN_DEFAULT);

      g_stop_async.store(nullptr);
      auto* async_handle = reinterpret_cast<uv_handle_t*>(&async->handle);
      close_handle(async_handle, std::move(async));
      for (auto& s : signals) {
        auto* signal_handle = reinterpret_cast<uv_handle_t*>(&s->handle);
        close_handle(signal_handle, std::move(s));
      }
      if (admin) admin->attach_reloader(nullptr);
      reloader.reset();
      log.info("stopped", stats_fields(server->stats()));
    }
    admin.reset();
    server.reset();
    webhook.reset();   // before the paid path: it listens to its approval desk
    payments.reset();  // after the server: no exchange is left to receive a completion
    access_file.reset();
    diagnostics.flush_blocking();
  }
  close_loop(&loop);
  return exit_code;
}

}  // namespace flow::proxy

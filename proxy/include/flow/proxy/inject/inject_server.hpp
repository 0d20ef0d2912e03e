// `402flow inject`: the mutating admission webhook that adds the 402flow sidecar to pods. It
// serves, over HTTPS with the shared HTTP server, POST /mutate (an AdmissionReview in, its
// answer out: admission_review.hpp) and GET /livez for its own Deployment's probes.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "flow/proxy/inject/admission_review.hpp"

namespace flow::proxy::inject {

struct InjectServerOptions {
  std::string listen;  // HOST:PORT; port 0 = any
  std::string port_file;
  std::string tls_cert;  // required: the API server only calls webhooks over HTTPS
  std::string tls_key;
  bool quiet = false;  // no log line per review
  InjectOptions inject;
  FailureMode failure_mode = FailureMode::allow;
};

// Runs the webhook on a fresh loop until SIGINT or SIGTERM; returns the exit code (0 on a
// signal, 2 on a start-up error, printed to stderr).
int run_inject_server(const InjectServerOptions& options);

// `402flow inject` on the command line.
class InjectCommand {
 public:
  explicit InjectCommand(CLI::App& app);
  ~InjectCommand();
  InjectCommand(const InjectCommand&) = delete;
  InjectCommand& operator=(const InjectCommand&) = delete;
  bool selected() const;
  int run() const;

 private:
  std::unique_ptr<InjectServerOptions> options_;
  std::string failure_mode_ = "allow";
  std::string sidecar_mode_ = "native";
  CLI::App* command_ = nullptr;
};

}  // namespace flow::proxy::inject

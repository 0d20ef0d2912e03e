#include "flow/proxy/admin/admin_server.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <chrono>
#include <utility>
#include <vector>

#include "admin_v1.hpp"
#include "flow/proxy/admin/dashboard.hpp"
#include "flow/proxy/admin/prometheus_text.hpp"
#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"
#include "metrics_scrape.hpp"

namespace flow::proxy {
namespace {

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return digest;
}

// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(const HeaderList& headers) {
  const Header* h = find_header(headers, "authorization");
  if (h == nullptr) return {};
  std::string_view value = h->value;
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size() || !iequals(value.substr(0, scheme.size()), scheme)) return {};
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return value;
}

struct NotReady {
  const char* check;
  std::string detail;
};

// Readiness: what keeps the proxy from taking traffic as configured.
std::vector<NotReady> not_ready(const AdminSources& s) {
  std::vector<NotReady> missing;
  if (s.server->draining()) missing.push_back({"draining", "the proxy is shutting down"});
  if (!s.policy || !s.policy->current()) missing.push_back({"policy", "no policy loaded"});
  if (s.wallets_configured) {
    if (s.payments == nullptr) {
      missing.push_back({"wallets", "wallets are configured but the paid path is not open"});
      missing.push_back({"ledger", "the ledger is not open"});
    } else if (s.payments->ledger().stats().last_batch_failed) {
      missing.push_back({"ledger", "the last ledger transaction failed"});
    }
  }
  return missing;
}

}  // namespace

AdminToken::AdminToken(std::string name, std::string_view token)
    : name_(std::move(name)), digest_(sha256(token)) {}

bool AdminToken::matches(std::string_view candidate) const {
  const auto digest = sha256(candidate);
  return CRYPTO_memcmp(digest.data(), digest_.data(), digest.size()) == 0;
}

namespace {

class AdminService final : public HttpService {
 public:
  AdminService(std::vector<AdminToken> tokens, AdminSources sources)
      : tokens_(std::move(tokens)), sources_(std::move(sources)), scrape_(sources_) {}
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  void attach_payments(PaymentServices* payments) { sources_.payments = payments; }
  void attach_reloader(PolicyReloader* reloader) { sources_.reloader = reloader; }

  void handle(const ServedRequest& request, ServedAnswer& answer) override {
    if (serve_dashboard(request, answer)) return;  // the page holds no data: no token
    const bool is_public = request.path == "/livez" || request.path == "/readyz";
    const std::optional<std::string> actor = caller(request);
    if (!is_public && !actor) {
      answer.status = 401;
      answer.headers = "WWW-Authenticate: Bearer realm=\"402flow admin\"\r\n";
      answer.body = json_error_body("a valid Authorization: Bearer token is required");
      return;
    }
    if (request.path == "/livez") {
      if (only_get(request, answer)) live(answer);
    } else if (request.path == "/readyz") {
      if (only_get(request, answer)) ready(answer);
    } else if (request.path == "/metrics") {
      if (only_get(request, answer)) metrics(answer);
    } else if (request.path.starts_with("/v1/")) {
      serve_v1(AdminCall{sources_, *actor}, request, answer);
    } else {
      answer.status = 404;
      answer.body = json_error_body("no such admin endpoint");
    }
  }

 private:
  // The name of the token the request presents ("loopback" when none is configured), or
  // nothing. Every token is compared, so the time taken does not say which one matched.
  std::optional<std::string> caller(const ServedRequest& request) const {
    if (tokens_.empty()) return std::string("loopback");
    const std::string_view presented = bearer_token(request.head.headers);
    const AdminToken* match = nullptr;
    for (const AdminToken& token : tokens_) {
      if (token.matches(presented) && match == nullptr) match = &token;
    }
    if (match == nullptr) return std::nullopt;
    return match->name();
  }

  static bool only_get(const ServedRequest& request, ServedAnswer& answer) {
    if (request.head.method == "GET" || request.head.method == "HEAD") return true;
    answer.status = 405;
    answer.headers = "Allow: GET, HEAD\r\n";
    answer.body = json_error_body("method not allowed: use GET");
    return false;
  }

  static void live(ServedAnswer& answer) {
    answer.status = 200;
    answer.body = "{\"live\":true}";
  }

  void ready(ServedAnswer& answer) const {
    const auto missing = not_ready(sources_);
    if (missing.empty()) {
      answer.status = 200;
      answer.body = "{\"ready\":true}";
      return;
    }
    answer.status = 503;
    answer.body = "{\"ready\":false,\"not_ready\":[";
    for (std::size_t i = 0; i < missing.size(); ++i) {
      if (i > 0) answer.body += ',';
      answer.body += "{\"check\":";
      append_json_string(answer.body, missing[i].check);
      answer.body += ",\"detail\":";
      append_json_string(answer.body, missing[i].detail);
      answer.body += '}';
    }
    answer.body += "]}";
  }

  void metrics(ServedAnswer& answer) { scrape_.serve(answer); }

  std::vector<AdminToken> tokens_;
  AdminSources sources_;
  MetricsScrape scrape_;  // after sources_, which it reads
};

HttpServerOptions admin_server_options(std::string listen) {
  HttpServerOptions o;
  o.listen = std::move(listen);
  o.max_header_bytes = 16 * 1024;
  o.max_body_bytes = 64 * 1024;
  o.idle_timeout = std::chrono::seconds(60);
  return o;
}

}  // namespace

struct AdminServer::Impl {
  Impl(uv_loop_t* loop, std::string listen, std::vector<AdminToken> tokens, AdminSources sources,
       Logger& log)
      : service(std::move(tokens), std::move(sources)),
        server(loop, admin_server_options(std::move(listen)), service, log) {}
  AdminService service;
  HttpServer server;
};

AdminServer::AdminServer(uv_loop_t* loop, std::string listen, std::vector<AdminToken> tokens,
                         AdminSources sources, Logger& log)
    : impl_(std::make_unique<Impl>(loop, std::move(listen), std::move(tokens), std::move(sources),
                                   log)) {}

AdminServer::~AdminServer() = default;

void AdminServer::start() {
  impl_->server.start();
}

void AdminServer::attach_payments(PaymentServices* payments) {
  impl_->service.attach_payments(payments);
}

void AdminServer::attach_reloader(PolicyReloader* reloader) {
  impl_->service.attach_reloader(reloader);
}

std::string AdminServer::bound_address() const {
  return impl_->server.bound_address();
}

void AdminServer::stop() {
  impl_->server.stop();
}

}  // namespace flow::proxy

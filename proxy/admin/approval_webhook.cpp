#include "flow/proxy/admin/approval_webhook.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <deque>
#include <stdexcept>
#include <vector>

#include "admin_json.hpp"
#include "flow/payment/amount.hpp"
#include "flow/payment/hex.hpp"
#include "flow/payment/unix_clock.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/http/target.hpp"
#include "flow/proxy/network/net_address.hpp"
#include "flow/proxy/network/resolver.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/paid/payment_services.hpp"

namespace flow::proxy {
namespace {

// "2026-01-01T00:00:00.123Z"
std::string delivery_id() {
  std::array<std::uint8_t, 12> bytes{};
  RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
  return "dlv_" + payment::to_hex(bytes, false);
}

std::string_view event_name(bool opened) {
  return opened ? "approval.opened" : "approval.decided";
}

// "HTTP/1.1 204 No Content" -> 204; 0 when the line is not a status line.
int status_of(std::string_view line) {
  if (!line.starts_with("HTTP/1.") || line.size() < 12 || line[8] != ' ') return 0;
  int status = 0;
  for (char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  return status;
}

constexpr std::size_t kMaxStatusLine = 1024;

}  // namespace

std::string approval_object_json(const storage::Approval& a, const policy::AssetTable& assets,
                                 std::size_t held) {
  return admin_json::approval_json(a, held, payment::unix_now_ms(), assets).dump();
}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac.data(), &len);
  return "sha256=" + payment::to_hex(std::span<const std::uint8_t>(mac.data(), len), false);
}

std::string webhook_url_problem(std::string_view url) {
  if (!url.starts_with("http://")) {
    return "admin.webhook.url must be an http:// URL (https is not supported)";
  }
  const auto target = parse_absolute_target(url);
  if (!target || target->host.empty()) return "admin.webhook.url is not a valid http:// URL";
  return {};
}

// One event on its way: its body is made anew for each try (sent_at changes, so does the
// signature); its delivery id stays.
struct Event {
  bool opened = false;
  std::string approval_id;
  std::string approval_json;
  std::string delivery;
  int tries = 0;
};

struct ApprovalWebhook::Impl : public StreamHandler {
  Impl(uv_loop_t* l, WebhookOptions o, ApprovalRenderer r, Logger& lg, Target t)
      : loop(l),
        options(std::move(o)),
        render(std::move(r)),
        log(lg),
        target(std::move(t)),
        try_timer(l, [this] { fail_try("timeout"); }),
        backoff_timer(l, [this] { start_try(); }) {}

  ~Impl() override {
    if (stream) stream->close();
    OPENSSL_cleanse(options.secret.data(), options.secret.size());
  }

  void enqueue(const storage::Approval& approval, bool opened) {
    if (queue.size() >= options.max_queue) {
      ++stats.overflowed;
      std::string fields = "\"event\":\"" + std::string(event_name(opened)) + "\",\"approval\":";
      append_json_string(fields, approval.id);
      log.warn("approval webhook queue full: event dropped", fields);
      return;
    }
    ++stats.queued;
    queue.push_back({opened, approval.id, render(approval), delivery_id(), 0});
    if (queue.size() == 1) start_try();
  }

  std::string body_of(const Event& e) const {
    std::string body = "{\"event\":\"" + std::string(event_name(e.opened)) + "\",\"approval\":";
    body += e.approval_json;
    body += ",\"sent_at\":";
    append_json_string(body, payment::format_utc(payment::unix_now()));
    body += '}';
    return body;
  }

  std::string request_of(const Event& e) const {
    const std::string body = body_of(e);
    std::string req = "POST " + target.path + " HTTP/1.1\r\n";
    req += "Host: " + target.host_header() + "\r\n";
    req += "User-Agent: 402flow\r\n";
    req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "X-402flow-Event: " + std::string(event_name(e.opened)) + "\r\n";
    req += "X-402flow-Delivery: " + e.delivery + "\r\n";
    req += "X-402flow-Signature: " + webhook_signature(options.secret, body) + "\r\n";
    req += "Connection: close\r\n\r\n";
    req += body;
    return req;
  }

  // The head of the queue, once more: resolve (unless an IP literal), connect, send.
  void start_try() {
    if (queue.empty()) return;
    Event& e = queue.front();
    ++e.tries;
    ++stats.tries;
    status_line.clear();
    stream.reset();
    resolution.reset();
    try_timer.start(options.timeout);
    if (auto addr = ip_literal(target.host, target.port)) {
      connect_to(*addr);
      return;
    }
    resolution = Resolution::start(loop, target.host, target.port,
                                   [this](int status, std::vector<sockaddr_storage> addresses) {
                                     if (status < 0 || addresses.empty()) {
                                       fail_try(uv_err_name(status < 0 ? status : UV_EAI_NONAME));
                                       return;
                                     }
                                     connect_to(addresses.front());
                                   });
  }

  void connect_to(const sockaddr_storage& addr) {
    stream = std::make_unique<TcpStream>(loop, this, 64 * 1024);
    const int rc = stream->connect(reinterpret_cast<const sockaddr*>(&addr));
    if (rc < 0) fail_try(uv_err_name(rc));
  }

  void on_connected(ByteStream& s, int status) override {
    if (status < 0) {
      fail_try(uv_err_name(status));
      return;
    }
    s.start_reading();
    s.write(request_of(queue.front()));
  }

  void on_read(ByteStream&, const char* data, std::size_t len) override {
    status_line.append(data, std::min(len, kMaxStatusLine));
    const auto end = status_line.find("\r\n");
    if (end == std::string::npos) {
      if (status_line.size() >= kMaxStatusLine) fail_try("no status line");
      return;
    }
    const int status = status_of(std::string_view(status_line).substr(0, end));
    if (status >= 200 && status < 300) {
      delivered();
    } else {
      fail_try(status == 0 ? "no status line" : "status " + std::to_string(status));
    }
  }

  void on_eof(ByteStream&) override { fail_try("closed before answering"); }
  void on_error(ByteStream&, int status) override { fail_try(uv_err_name(status)); }

  void end_try() {
    try_timer.stop();
    resolution.reset();
    if (stream) stream->close();  // destroyed at the next try: a callback may be on the stack
  }

  void delivered() {
    end_try();
    ++stats.delivered;
    const Event& e = queue.front();
    log.debug("approval webhook delivered", fields_of(e));
    next_event();
  }

  void fail_try(const std::string& why) {
    end_try();
    Event& e = queue.front();
    std::string fields = fields_of(e) + ",\"try\":" + std::to_string(e.tries) + ",\"error\":";
    append_json_string(fields, why);
    if (e.tries >= options.max_tries) {
      ++stats.given_up;
      log.warn("approval webhook given up", fields);
      next_event();
      return;
    }
    const auto wait = options.first_backoff * (1LL << (e.tries - 1));
    log.info("approval webhook try failed",
             fields + ",\"retry_in_ms\":" + std::to_string(wait.count()));
    backoff_timer.start(wait);
  }

  void next_event() {
    queue.pop_front();
    if (!queue.empty()) start_try();
  }

  std::string fields_of(const Event& e) const {
    std::string fields = "\"event\":\"" + std::string(event_name(e.opened)) + "\",\"approval\":";
    append_json_string(fields, e.approval_id);
    fields += ",\"delivery\":\"" + e.delivery + "\"";
    return fields;
  }

  uv_loop_t* loop;
  WebhookOptions options;
  ApprovalRenderer render;
  Logger& log;
  Target target;
  std::deque<Event> queue;
  std::unique_ptr<Resolution> resolution;
  std::unique_ptr<TcpStream> stream;
  std::string status_line;
  Timer try_timer;
  Timer backoff_timer;
  Stats stats;
};

namespace {

Target webhook_target(const std::string& url) {
  if (const std::string problem = webhook_url_problem(url); !problem.empty()) {
    throw std::invalid_argument(problem);
  }
  return *parse_absolute_target(url);
}

}  // namespace

ApprovalWebhook::ApprovalWebhook(uv_loop_t* loop, WebhookOptions options, ApprovalRenderer render,
                                 Logger& log) {
  Target target = webhook_target(options.url);
  impl_ =
      std::make_unique<Impl>(loop, std::move(options), std::move(render), log, std::move(target));
}

ApprovalWebhook::~ApprovalWebhook() {
  if (desk_ != nullptr) desk_->remove_observer(this);
}

void ApprovalWebhook::observe(ApprovalDesk& desk) {
  desk.add_observer(this);
  desk_ = &desk;
}

void ApprovalWebhook::approval_opened(const storage::Approval& approval) {
  impl_->enqueue(approval, true);
}

void ApprovalWebhook::approval_decided(const storage::Approval& approval) {
  impl_->enqueue(approval, false);
}

const ApprovalWebhook::Stats& ApprovalWebhook::stats() const {
  return impl_->stats;
}

std::size_t ApprovalWebhook::pending() const {
  return impl_->queue.size();
}

std::unique_ptr<ApprovalWebhook> open_approval_webhook(
    uv_loop_t* loop, const policy::WebhookSettings& settings, std::string secret,
    PaymentServices* payments, std::shared_ptr<policy::PolicyStore> policy, Logger& log) {
  if (!settings.enabled()) return nullptr;
  std::string fields = "\"url\":";
  append_json_string(fields, settings.url);
  if (payments == nullptr) {
    log.warn("approval webhook not started: no wallet is configured, so nothing is approved",
             fields);
    return nullptr;
  }
  WebhookOptions options;
  options.url = settings.url;
  options.secret = std::move(secret);
  ApprovalDesk* desk = &payments->approvals();
  auto render = [policy = std::move(policy), desk](const storage::Approval& approval) {
    return approval_object_json(approval, policy->current()->assets(), desk->held_for(approval.id));
  };
  auto webhook =
      std::make_unique<ApprovalWebhook>(loop, std::move(options), std::move(render), log);
  webhook->observe(*desk);
  log.info("approval webhook on", fields);
  return webhook;
}

}  // namespace flow::proxy

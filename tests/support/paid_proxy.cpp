#include "support/paid_proxy.hpp"

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "support/client_connection.hpp"

namespace flow::testing {
namespace {

constexpr std::chrono::seconds kCommandTimeout{20};

std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ", ") + items[i];
  return out + "]";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

nlohmann::json run_json(const std::vector<std::string>& argv) {
  const CommandResult r = run_command(argv, kCommandTimeout);
  if (!r.status.exited || r.status.code != 0) {
    throw std::runtime_error(argv[1] + " failed (" + r.status.describe() + "): " + r.err);
  }
  auto parsed = nlohmann::json::parse(r.out, nullptr, false);
  if (parsed.is_discarded()) throw std::runtime_error(argv[1] + " printed no JSON: " + r.out);
  return parsed;
}

}  // namespace

std::string default_policy() {
  return R"(organization:
  posture: block
  networks: [eip155:8453, eip155:137]
  prefer_networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: test-agent
merchants:
  - name: merchant-v2
    host: 127.0.0.1
    path: /v2
    action: allow
  - name: merchant-v1
    host: 127.0.0.1
    path: /v1
    action: allow
  - name: test-origin
    host: 127.0.0.1
    path: /paid
    action: allow
)";
}

std::string policy_with_budget() {
  std::string p = default_policy();
  const std::string caps = "    per_request: [1 USDC]\n";
  p.replace(p.find(caps), caps.size(),
            caps + "    budgets:\n      - amount: 50 USDC\n        per: day\n");
  return p;
}

PaidProxy::PaidProxy(PaidProxyOptions options) : options_(std::move(options)) {
  db_ = dir_.file("ledger.db");
  config_ = dir_.file("flow.yaml");
  key_file_ = dir_.file("wallet.key");
  const CommandResult keygen =
      run_command({flow_binary(), "keygen", "--out", key_file_}, kCommandTimeout);
  const auto at = keygen.out.find("address: ");
  if (!keygen.status.exited || keygen.status.code != 0 || at == std::string::npos) {
    throw std::runtime_error("402flow keygen failed: " + keygen.out + keygen.err);
  }
  address_ = keygen.out.substr(at + 9, 42);

  std::string yaml = "version: 1\nproxy:\n  identity: " + options_.identity + "\n";
  if (!options_.agent.empty()) yaml += "  agent: " + options_.agent + "\n";
  yaml += "  replay_limit: " + std::to_string(options_.replay_limit) + "\n";
  yaml += "ledger:\n  path: " + db_ + "\n";
  yaml += "wallets:\n  - name: test-wallet\n    networks: " + yaml_list(options_.wallet_networks) +
          "\n    key_file: " + key_file_ + "\n";
  yaml += options_.policy;
  write_text(config_, yaml);
  if (options_.autostart) start();
}

void PaidProxy::start(const std::vector<std::string>& extra_env) {
  proxy_.reset();
  std::vector<std::string> args = {"-c", config_, "--db", db_};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<std::string> env = options_.extra_env;
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  proxy_ = std::make_unique<ProxyProcess>(args, env);
}

void PaidProxy::kill() {
  if (!proxy_) return;
  proxy_->send_signal(SIGKILL);
  if (!proxy_->wait_exit(kDefaultTimeout)) throw std::runtime_error("the proxy survived SIGKILL");
  proxy_.reset();
}

nlohmann::json PaidProxy::receipts() const {
  return run_json({flow_binary(), "receipts", "--db", db_, "--json"});
}

nlohmann::json PaidProxy::spend() const {
  return run_json({flow_binary(), "spend", "--db", db_, "--json"});
}

CommandResult PaidProxy::ledger_command(std::vector<std::string> args) const {
  args.insert(args.begin(), flow_binary());
  args.push_back("--db");
  args.push_back(db_);
  return run_command(args, kCommandTimeout);
}

CommandResult PaidProxy::verify() const {
  return run_command({flow_binary(), "receipts", "verify", "--db", db_}, kCommandTimeout);
}

std::string proxied_request(std::string_view method, std::string_view authority,
                            std::string_view path, std::string_view extra_headers,
                            std::string_view body) {
  std::string r(method);
  r += " http://";
  r += authority;
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += authority;
  r += "\r\n";
  r += extra_headers;
  r += "Connection: close\r\n";
  if (!body.empty() || method == "POST")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

HttpResponse send_via_proxy(std::uint16_t proxy_port, std::string_view raw) {
  ClientConnection client(proxy_port);
  return client.exchange(raw);
}

HttpResponse get_via_proxy(std::uint16_t proxy_port, std::string_view authority,
                           std::string_view path, std::string_view extra_headers) {
  return send_via_proxy(proxy_port, proxied_request("GET", authority, path, extra_headers));
}

nlohmann::json merchant_book(const MerchantProcess& merchant) {
  ClientConnection client = merchant.connect();
  const HttpResponse r =
      client.exchange("GET /_merchant/payments HTTP/1.1\r\nHost: " + merchant.authority() +
                      "\r\nConnection: close\r\n\r\n");
  if (r.status != 200) throw std::runtime_error("the merchant's book answered " + r.head);
  return nlohmann::json::parse(r.body);
}

std::vector<nlohmann::json> merchant_requests(const MerchantProcess& merchant,
                                              std::string_view path) {
  std::vector<nlohmann::json> out;
  const std::string text = merchant.stderr_text();
  std::size_t start = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    auto line = nlohmann::json::parse(text.substr(start, nl - start), nullptr, false);
    start = nl + 1;
    if (line.is_object() && line.value("msg", "") == "request" && line.value("path", "") == path) {
      out.push_back(std::move(line));
    }
  }
  return out;
}

std::vector<nlohmann::json> wait_merchant_requests(const MerchantProcess& merchant,
                                                   std::string_view path, std::size_t count) {
  const Deadline deadline = default_deadline();
  for (;;) {
    auto lines = merchant_requests(merchant, path);
    if (lines.size() >= count || Clock::now() >= deadline) return lines;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the merchant's log
  }
}

std::vector<nlohmann::json> receipts_for(const nlohmann::json& receipts, std::string_view path) {
  std::vector<nlohmann::json> out;
  for (const auto& r : receipts) {
    const std::string url = r.value("url", "");
    if (url.size() >= path.size() &&
        url.compare(url.size() - path.size(), path.size(), path) == 0) {
      out.push_back(r);
    }
  }
  return out;
}

std::string lower_case(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace flow::testing

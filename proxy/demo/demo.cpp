#include "demo/demo.hpp"
#include "demo/demo_https.hpp"
#include "demo/demo_wire.hpp"

#include "flow/payment/ascii.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "flow/payment/evm_address.hpp"
#include "flow/payment/key_file.hpp"

namespace flow::proxy {
namespace {

namespace fs = std::filesystem;

// A child process of this same binary (`402flow merchant`, `402flow run`, `402flow receipts`).
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& env_extra,
        const std::string& log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!log_path.empty()) {
        FILE* log = std::fopen(log_path.c_str(), "a");
        if (log != nullptr) {
          ::dup2(::fileno(log), STDERR_FILENO);
          ::dup2(::fileno(log), STDOUT_FILENO);
        }
      }
      for (const auto& e : env_extra) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>("402flow"));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::perror("402flow demo: exec");
      ::_exit(127);
    }
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait();
  }

 private:
  pid_t pid_ = -1;
};

// Waits for a child's port file ("HOST:PORT\n") and returns the port, or 0 after 15 s.
int wait_for_port(const std::string& path) {
  for (int i = 0; i < 1500; ++i) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) {
      return std::atoi(line.substr(line.rfind(':') + 1).c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// Sends one request through the proxy and returns its answer.
std::string via_proxy(int proxy_port, const std::string& request) {
  const int fd = connect_proxy(proxy_port);
  if (fd < 0) return {};
  std::string response;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    response = read_answer([fd](char* buf, std::size_t n) { return long{::recv(fd, buf, n, 0)}; });
  }
  ::close(fd);
  return response;
}

std::string get_request(const std::string& merchant, const std::string& path,
                        const std::string& extra_headers) {
  return "GET http://" + merchant + path + " HTTP/1.1\r\nHost: " + merchant + "\r\n" +
         extra_headers + "Connection: close\r\n\r\n";
}

// Prints the status line, the 402flow headers and the body of an answer.
void show(const char* title, const std::string& request, const std::string& response) {
  std::printf("\n== %s\n   > %s\n", title, request.substr(0, request.find("\r\n")).c_str());
  std::istringstream in(response);
  std::string line;
  bool head = true;
  bool first = true;
  std::string body;
  while (std::getline(in, line)) {
    if (head) {
      if (line == "\r") {
        head = false;
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (first || line.rfind("X-402flow", 0) == 0 || line.rfind("x-402flow", 0) == 0 ||
          line.rfind("Content-Type", 0) == 0) {
        std::printf("   < %s\n", line.c_str());
      }
      first = false;
    } else {
      body += line + "\n";
    }
  }
  if (body.size() > 900) body = body.substr(0, 900) + "...\n";
  std::printf("   < %s", body.c_str());
}

// The demo's own policy: the built-in merchant on this machine is allowed up to 0.05 USDC a
// request on Base, for one agent. It never depends on a flow.yaml lying in the working
// directory.
constexpr const char* kBuiltInPolicy = R"(organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
    budgets:
      - amount: 5 USDC
        per: day
agents:
  - id: research-bot
merchants:
  - name: demo-merchant
    host: 127.0.0.1
    action: allow
    networks: [eip155:8453]
    caps:
      per_request: 0.05 USDC
)";

// The sections of a flow.yaml that make up the payment policy. The others (proxy, ledger,
// wallets) are the demo's own, whatever the chosen file says.
constexpr const char* kPolicySections[] = {"organization", "review", "payment",
                                           "assets",       "agents", "merchants"};

// The agent the demo pays for: research-bot when the policy lists it, else its first agent.
std::string demo_agent(const YAML::Node& policy) {
  const YAML::Node agents = policy["agents"];
  if (!agents || !agents.IsSequence() || agents.size() == 0) return "research-bot";
  for (const auto& a : agents) {
    if (a.IsMap() && a["id"] && a["id"].as<std::string>() == "research-bot") return "research-bot";
  }
  const YAML::Node first = agents[0];
  return first.IsMap() && first["id"] ? first["id"].as<std::string>() : "research-bot";
}

struct DemoConfig {
  std::string agent;
  std::string yaml;  // the flow.yaml the demo's proxy runs with
};

// The demo's flow.yaml: the policy sections of `policy` (the built-in policy, or the file given
// with -c), and the demo's own proxy (sidecar, loopback), ledger and throwaway wallet.
DemoConfig compose_config(const YAML::Node& policy, const std::string& ledger,
                          const std::string& ca_dir, const std::string& merchant_ca) {
  YAML::Node root(YAML::NodeType::Map);
  root["version"] = 1;
  DemoConfig out;
  out.agent = demo_agent(policy);
  root["proxy"]["listen"] = "127.0.0.1:0";
  root["proxy"]["identity"] = "sidecar";
  root["proxy"]["agent"] = out.agent;
  root["ledger"]["path"] = ledger;
  YAML::Node wallet(YAML::NodeType::Map);
  wallet["name"] = "demo-throwaway";
  wallet["networks"].push_back("eip155:*");
  wallet["key_file"] = "wallet.key";
  root["wallets"].push_back(wallet);
  // HTTPS: 402flow's own CA decrypts the hosts merchant rules name; the demo merchant's
  // certificate comes from a CA of its own, trusted upstream like a private merchant's.
  root["tls"]["ca_dir"] = ca_dir;
  root["tls"]["upstream_ca_file"] = merchant_ca;
  for (const char* section : kPolicySections) {
    if (policy[section]) root[section] = policy[section];
  }
  YAML::Emitter emitter;
  emitter << root;
  out.yaml = std::string(emitter.c_str()) + "\n";
  return out;
}

// The policy document: the built-in one, or the file given with -c (read as YAML here; the
// proxy validates it when it starts).
YAML::Node load_policy(const std::string& given) {
  if (given.empty()) return YAML::Load(kBuiltInPolicy);
  YAML::Node doc = YAML::LoadFile(given);
  if (!doc.IsMap()) throw YAML::Exception(YAML::Mark::null_mark(), given + " is not a mapping");
  return doc;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  YAML::Node policy;
  try {
    policy = load_policy(options.config);
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "402flow demo: %s: %s\n", options.config.c_str(), e.what());
    return 1;
  }
  // A peer that closes first is an error on the write (SSL_write has no MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  char dir_template[] = "/tmp/402flow-demo-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    std::perror("402flow demo: mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;
  const std::string key_file = dir + "/wallet.key";
  auto key = payment::write_new_key_file(key_file);
  if (auto* error = std::get_if<std::string>(&key)) {
    std::fprintf(stderr, "402flow demo: %s\n", error->c_str());
    return 1;
  }
  const std::string address =
      payment::evm_address_checksummed(std::get<payment::EvmKey>(key).address());
  const std::string db = dir + "/ledger.db";
  const std::string log = dir + "/proxy.log";
  const std::string config = dir + "/flow.yaml";
  const DemoMerchantTls merchant_tls = make_demo_merchant_tls(dir);
  std::string ca_error;
  const std::string ca_pem = make_demo_interception_ca(dir, ca_error);
  if (!merchant_tls.error.empty() || ca_pem.empty()) {
    std::fprintf(stderr, "402flow demo: %s\n",
                 (merchant_tls.error.empty() ? ca_error : merchant_tls.error).c_str());
    return 1;
  }
  const DemoConfig demo = compose_config(policy, db, dir + "/ca", merchant_tls.ca_file);
  {
    std::ofstream out(config);
    out << demo.yaml;
  }

  std::printf(
      "402flow demo\n  policy:   %s\n  wallet:   %s (a throwaway key, in %s)\n  ledger:   %s\n",
      options.config.empty() ? "built in (402flow demo --keep keeps it)"
                             : (options.config + " (its payment sections only)").c_str(),
      address.c_str(), key_file.c_str(), db.c_str());
  Child merchant({"merchant", "--listen", "127.0.0.1:0", "--port-file", dir + "/merchant.port"}, {},
                 dir + "/merchant.log");
  Child tls_merchant(
      {"merchant", "--listen", "127.0.0.1:0", "--port-file", dir + "/merchant-tls.port",
       "--tls-cert", merchant_tls.cert_file, "--tls-key", merchant_tls.key_file},
      {}, dir + "/merchant-tls.log");
  const int merchant_port = wait_for_port(dir + "/merchant.port");
  const int tls_merchant_port = wait_for_port(dir + "/merchant-tls.port");
  // --agent: FLOW402_AGENT in the operator's environment must not change the demo's agent.
  Child proxy({"run", "-c", config, "--port-file", dir + "/proxy.port", "--agent", demo.agent,
               "--access-log", dir + "/access.log"},
              {}, log);
  const int proxy_port = wait_for_port(dir + "/proxy.port");
  if (merchant_port == 0 || tls_merchant_port == 0 || proxy_port == 0) {
    const std::string failed = merchant_port == 0       ? "merchant"
                               : tls_merchant_port == 0 ? "merchant-tls"
                                                        : "proxy";
    std::fprintf(stderr, "402flow demo: the %s did not start; its log:\n", failed.c_str());
    std::ifstream in(failed == "proxy" ? log : dir + "/" + failed + ".log");
    std::fprintf(stderr, "%s\n", std::string(std::istreambuf_iterator<char>(in), {}).c_str());
    return 1;
  }
  const std::string m = "127.0.0.1:" + std::to_string(merchant_port);
  const std::string m_tls = "127.0.0.1:" + std::to_string(tls_merchant_port);
  std::printf(
      "  merchant: http://%s and https://%s (402flow merchant: x402 proof routes)\n  proxy:    "
      "127.0.0.1:%d, agent %s, intercepting HTTPS with the CA in %s/ca\n",
      m.c_str(), m_tls.c_str(), proxy_port, demo.agent.c_str(), dir.c_str());

  int failures = 0;
  const std::string paid = get_request(m, "/v2/weather", "");
  const std::string paid_answer = via_proxy(proxy_port, paid);
  show("1. an allowed payment: 0.01 USDC on Base, paid, retried, receipted", paid, paid_answer);
  if (paid_answer.rfind("HTTP/1.1 200", 0) != 0) ++failures;

  const std::string denied = get_request(m, "/v2/expensive", "");
  const std::string denied_answer = via_proxy(proxy_port, denied);
  show("2. a denied payment: 5 USDC is over the policy's per-request cap", denied, denied_answer);
  if (denied_answer.rfind("HTTP/1.1 403", 0) != 0) ++failures;

  const std::string prepare = get_request(m, "/v2/weather", "X-402flow-Mode: prepare\r\n");
  const std::string prepare_answer = via_proxy(proxy_port, prepare);
  show("3a. prepare: what would be paid, without paying", prepare, prepare_answer);
  const std::string prepared_id = header_value(prepare_answer, "x-402flow-prepared");
  if (prepared_id.empty()) {
    ++failures;
  } else {
    const std::string execute =
        get_request(m, "/v2/weather", "X-402flow-Prepared: " + prepared_id + "\r\n");
    const std::string execute_answer = via_proxy(proxy_port, execute);
    show("3b. execute the prepared offer (the price is unchanged, so it is paid)", execute,
         execute_answer);
    if (execute_answer.rfind("HTTP/1.1 200", 0) != 0) ++failures;
  }

  const std::string https_request =
      "GET /v2/weather HTTP/1.1\r\nHost: " + m_tls +
      "\r\nIdempotency-Key: demo-https-1\r\nConnection: close\r\n\r\n";
  std::string https_error;
  const std::string https_answer =
      via_intercepted_tunnel(proxy_port, m_tls, ca_pem, https_request, https_error);
  show("4. the same payment over HTTPS: CONNECT, TLS with 402flow's CA, paid inside the tunnel",
       "GET https://" + m_tls + "/v2/weather (the client trusts only " + ca_pem + ")\r\n",
       https_answer.empty() ? https_error : https_answer);
  if (https_answer.rfind("HTTP/1.1 200", 0) != 0) ++failures;

  proxy.stop();
  merchant.stop();
  tls_merchant.stop();
  std::printf("\n== the receipts in the ledger (402flow receipts --db %s)\n", db.c_str());
  std::fflush(stdout);
  Child receipts({"receipts", "--db", db}, {}, "");
  receipts.wait();
  Child verify({"receipts", "verify", "--db", db}, {}, "");
  verify.wait();

  std::printf(
      "\nTry it yourself:\n"
      "  ./build/402flow keygen --out wallet.key\n"
      "  ./build/402flow merchant --listen 127.0.0.1:4020 &\n"
      "  FLOW402_EVM_KEY=$(cat wallet.key) ./build/402flow run -c flow.yaml --agent research-bot "
      "&\n"
      "  curl -i -x http://127.0.0.1:8402 http://127.0.0.1:4020/v2/weather\n"
      "  curl -i -x http://127.0.0.1:8402 -H 'X-402flow-Mode: prepare' "
      "http://127.0.0.1:4020/v2/weather\n"
      "  ./build/402flow receipts\n"
      "HTTPS (docs/https.md): ./build/402flow ca init --dir ca, run with --ca-dir ca, and\n"
      "  curl -i -x http://127.0.0.1:8402 --cacert ca/ca.pem https://<merchant>/...\n");
  if (failures != 0) {
    std::fprintf(stderr, "\n402flow demo: %d step(s) did not go as expected; logs in %s\n",
                 failures, dir.c_str());
    return 1;
  }
  if (!options.keep) fs::remove_all(dir);
  return 0;
}

}  // namespace flow::proxy

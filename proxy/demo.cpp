#include "flow/proxy/demo.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

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

// Sends one request through the proxy (Connection: close) and returns the whole answer.
std::string via_proxy(int proxy_port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(proxy_port));
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
      response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

std::string get_request(const std::string& merchant, const std::string& path,
                        const std::string& extra_headers) {
  return "GET http://" + merchant + path + " HTTP/1.1\r\nHost: " + merchant + "\r\n" +
         extra_headers + "Connection: close\r\n\r\n";
}

std::string header_value(const std::string& response, const std::string& name) {
  std::istringstream in(response);
  std::string line;
  while (std::getline(in, line) && line != "\r") {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == name) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
  }
  return {};
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

std::string find_config(const std::string& given) {
  if (!given.empty()) return given;
  if (fs::exists("flow.yaml")) return "flow.yaml";
  return FLOW_EXAMPLE_CONFIG;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  const std::string config = find_config(options.config);
  if (!fs::exists(config)) {
    std::fprintf(stderr, "402flow demo: %s not found (run it from the repository, or --config)\n",
                 config.c_str());
    return 1;
  }
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
  std::string key_hex;
  {
    std::ifstream in(key_file);
    std::getline(in, key_hex);
  }
  const std::string db = dir + "/ledger.db";
  const std::string log = dir + "/proxy.log";

  std::printf(
      "402flow demo\n  policy:   %s\n  wallet:   %s (a throwaway key, in %s)\n  ledger:   %s\n",
      config.c_str(), address.c_str(), key_file.c_str(), db.c_str());
  Child merchant({"merchant", "--listen", "127.0.0.1:0", "--port-file", dir + "/merchant.port"}, {},
                 dir + "/merchant.log");
  const int merchant_port = wait_for_port(dir + "/merchant.port");
  // The repo's flow.yaml reads the wallet key from FLOW402_EVM_KEY: the throwaway key goes there.
  const std::string env_key = "FLOW402_EVM_KEY=" + key_hex;
  Child proxy({"run", "-c", config, "--listen", "127.0.0.1:0", "--port-file", dir + "/proxy.port",
               "--db", db, "--agent", "research-bot", "--access-log", dir + "/access.log"},
              {env_key}, log);
  const int proxy_port = wait_for_port(dir + "/proxy.port");
  if (merchant_port == 0 || proxy_port == 0) {
    std::fprintf(stderr, "402flow demo: the %s did not start; its log:\n",
                 merchant_port == 0 ? "merchant" : "proxy");
    std::ifstream in(merchant_port == 0 ? dir + "/merchant.log" : log);
    std::fprintf(stderr, "%s\n", std::string(std::istreambuf_iterator<char>(in), {}).c_str());
    return 1;
  }
  const std::string m = "127.0.0.1:" + std::to_string(merchant_port);
  std::printf(
      "  merchant: http://%s (402flow merchant: x402 proof routes)\n  proxy:    "
      "127.0.0.1:%d, agent research-bot\n",
      m.c_str(), proxy_port);

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

  proxy.stop();
  merchant.stop();
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
      "  ./build/402flow receipts\n");
  if (failures != 0) {
    std::fprintf(stderr, "\n402flow demo: %d step(s) did not go as expected; logs in %s\n",
                 failures, dir.c_str());
    return 1;
  }
  if (!options.keep) fs::remove_all(dir);
  return 0;
}

}  // namespace flow::proxy

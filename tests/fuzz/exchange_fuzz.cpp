// The proxy's exchange handling with arbitrary bytes on both sides: a real Server on a libuv
// loop, a client socket that sends the first part of the input, and an origin that answers with
// the rest. The parts are separated by "\n\n\n\n": the origin's n-th connection gets the n-th
// answer (the last one again when there are fewer answers than connections), so an input can
// answer 402 to the request and something else to its paid retry. "{O}" in the client part is
// replaced by the origin's address so that inputs can reach it. Timeouts are short so that
// stalled inputs end quickly.
//
// The server has the paid path: a policy that lets agent "fuzz-agent" pay 127.0.0.1 up to
// 1 USDC on Base, a throwaway key made in the process, and a ledger in a temporary directory.
// A payable 402 from the origin goes through decide, reserve, sign and the paid retry.
#include <stdlib.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "flow/payment/evm_key.hpp"
#include "flow/payment/signer_registry.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_store.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/tcp_stream.hpp"
#include "flow/proxy/network/timer.hpp"
#include "flow/proxy/paid/paid_attempt.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"
#include "flow/storage/ledger.hpp"
#include "flow/storage/ledger_writer.hpp"

namespace {

using namespace flow::proxy;
using namespace std::chrono_literals;

struct World;
World& world();

// The fuzzed origin: every accepted connection gets the origin bytes, then FIN.
struct OriginConn : StreamHandler {
  std::unique_ptr<TcpStream> stream;
  bool done = false;
  void on_read(ByteStream&, const char*, std::size_t) override {}
  void on_eof(ByteStream&) override { done = true; }
  void on_error(ByteStream&, int) override { done = true; }
};

struct Client : StreamHandler {
  std::unique_ptr<TcpStream> stream;
  bool finished = false;
  std::size_t received = 0;
  void on_connected(ByteStream&, int status) override {
    if (status != 0) finished = true;
  }
  void on_read(ByteStream&, const char*, std::size_t n) override { received += n; }
  void on_eof(ByteStream&) override { finished = true; }
  void on_error(ByteStream&, int) override { finished = true; }
};

constexpr const char* kPolicy = R"(version: 1
organization:
  posture: block
  networks: [eip155:8453]
  caps:
    per_request: [1 USDC]
agents:
  - id: fuzz-agent
merchants:
  - name: fuzzed-origin
    host: 127.0.0.1
    action: allow
)";

// A private directory for the ledger, in memory when /dev/shm is there (no fsync cost per
// payment); removed at exit.
std::string make_ledger_dir() {
  static std::string dir;
  for (const char* base : {"/dev/shm", "/tmp"}) {
    std::string pattern = std::string(base) + "/402flow-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) {
      dir = pattern;
      std::atexit([] {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      });
      return dir;
    }
  }
  std::abort();
}

// The paid path's services as `402flow run` builds them (proxy_runner.cpp open_payments), with
// a key that exists only in this process.
std::unique_ptr<PaymentServices> open_payments(uv_loop_t* loop,
                                               std::shared_ptr<flow::policy::PolicyStore> policy) {
  flow::payment::SignerRegistry signers;
  signers.add("fuzz", {"eip155:8453"},
              std::make_unique<flow::payment::EvmSigner>(flow::payment::EvmKey::generate()));
  flow::storage::LedgerOptions options;
  options.path = make_ledger_dir() + "/ledger.db";
  auto writer = std::make_unique<flow::storage::LedgerWriter>(
      std::make_unique<flow::storage::Ledger>(options));
  return std::make_unique<PaymentServices>(loop, std::move(policy), std::move(writer),
                                           std::move(signers), options.url_query);
}

struct World {
  uv_loop_t loop{};
  std::unique_ptr<LogWriter> null_log;
  std::unique_ptr<Logger> logger;
  std::shared_ptr<flow::policy::PolicyStore> policy;
  std::unique_ptr<PaymentServices> payments;
  std::unique_ptr<Server> server;
  uv_tcp_t origin_listener{};
  int origin_port = 0;
  int proxy_port = 0;
  std::vector<std::string> origin_answers;  // one per origin connection, the last repeated
  std::size_t origin_accepted = 0;
  std::vector<std::unique_ptr<OriginConn>> origin_conns;

  World() {
    uv_loop_init(&loop);
    const int fd = LogWriter::open_file("/dev/null");
    null_log = std::make_unique<LogWriter>(&loop, fd, true);
    logger = std::make_unique<Logger>(*null_log, LogLevel::error);
    const flow::policy::FlowConfig config = flow::policy::parse_flow_config(kPolicy, "fuzz");
    policy = std::make_shared<flow::policy::PolicyStore>(config.policy);
    payments = open_payments(&loop, policy);
    flow::policy::ProxySettings s;
    s.listen = "127.0.0.1:0";
    s.agent = "fuzz-agent";
    s.connect_ports = {1};
    s.max_header_bytes = 4096;
    s.timeouts.header = 40ms;
    s.timeouts.idle = 40ms;
    s.timeouts.connect = 40ms;
    s.timeouts.upstream = 40ms;
    s.timeouts.tunnel_idle = 40ms;
    server = std::make_unique<Server>(&loop, s, *logger, *null_log);
    server->set_policy_source([p = policy] { return p->current(); });
    server->set_hooks_factory([services = payments.get()](Exchange& exchange) {
      return std::make_unique<PaidAttempt>(exchange, services);
    });
    server->start();
    const std::string bound = server->bound_address();
    proxy_port = std::stoi(bound.substr(bound.rfind(':') + 1));

    uv_tcp_init(&loop, &origin_listener);
    origin_listener.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&origin_listener, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&origin_listener), 64, [](uv_stream_t* s, int) {
      auto* w = static_cast<World*>(s->data);
      auto conn = std::make_unique<OriginConn>();
      conn->stream = std::make_unique<TcpStream>(&w->loop, conn.get(), 1 << 20);
      if (conn->stream->accept_from(s) != 0) return;
      conn->stream->start_reading();
      const std::size_t n = std::min(w->origin_accepted++, w->origin_answers.size() - 1);
      conn->stream->write(w->origin_answers[n]);
      conn->stream->shutdown_after_writes();
      w->origin_conns.push_back(std::move(conn));
    });
    sockaddr_in bound_origin{};
    int len = sizeof bound_origin;
    uv_tcp_getsockname(&origin_listener, reinterpret_cast<sockaddr*>(&bound_origin), &len);
    origin_port = ntohs(bound_origin.sin_port);
  }
};

World& world() {
  static World* w = new World();  // lives for the whole fuzzing process
  return *w;
}

// Runs one marker job through the ledger writer and the loop until its completion has run:
// the writer completes in submission order and the mailbox delivers in order, so every
// operation submitted before it has completed on the loop by then. Returns false when the
// writer refused it or `expired` was set first.
bool ledger_marker(World& w, const bool& expired) {
  // Shared: a marker that outlives its wait (expired) completes into the next input's loop.
  auto marked = std::make_shared<bool>(false);
  auto done = w.payments->mailbox().on_loop<flow::storage::Result<bool>>(
      [marked](const flow::storage::Result<bool>&) { *marked = true; });
  auto queued = w.payments->ledger().submit<bool>(
      flow::storage::Durability::durable, [](flow::storage::Ledger&) { return true; },
      std::move(done));
  if (!queued.ok()) return false;
  while (!*marked && !expired) uv_run(&w.loop, UV_RUN_ONCE);
  return *marked;
}

// Lets the ledger work an input started (a decision, a reservation, its finalize) complete on
// the loop before the next input: markers until two rounds in a row saw no operation but their
// own and nothing left queued (a completion may submit the next step), or `expired`.
void drain_ledger(World& w, const bool& expired) {
  int quiet = 0;
  while (quiet < 2) {
    const auto before = w.payments->ledger().stats().operations;
    if (!ledger_marker(w, expired)) return;
    const auto after = w.payments->ledger().stats();
    quiet = after.operations == before + 1 && after.queued == 0 ? quiet + 1 : 0;
  }
}

// The next "\n\n\n\n" at or after `from`; in a longer run of newlines, its last four, so that
// a head's closing "\r\n\r\n" stays with the part it ends.
std::size_t find_separator(const std::string& input, std::size_t from) {
  auto at = input.find("\n\n\n\n", from);
  if (at == std::string::npos) return at;
  while (at + 4 < input.size() && input[at + 4] == '\n') ++at;
  return at;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto split = find_separator(input, 0);  // client part, then origin answers
  std::string client_bytes = input.substr(0, split);
  w.origin_answers.clear();
  w.origin_accepted = 0;
  for (auto at = split; at != std::string::npos;) {
    const auto next = find_separator(input, at + 4);
    w.origin_answers.push_back(
        input.substr(at + 4, next == std::string::npos ? next : next - at - 4));
    at = next;
  }
  if (w.origin_answers.empty()) w.origin_answers.emplace_back();
  const std::string origin = "127.0.0.1:" + std::to_string(w.origin_port);
  for (auto at = client_bytes.find("{O}"); at != std::string::npos; at = client_bytes.find("{O}")) {
    client_bytes.replace(at, 3, origin);
  }

  Client client;
  client.stream = std::make_unique<TcpStream>(&w.loop, &client, 1 << 20);
  sockaddr_in proxy{};
  uv_ip4_addr("127.0.0.1", w.proxy_port, &proxy);
  client.stream->connect(reinterpret_cast<sockaddr*>(&proxy));
  client.stream->write(client_bytes);
  client.stream->start_reading();
  bool expired = false;
  Timer limit(&w.loop, [&] { expired = true; });
  limit.start(300ms);
  while (!client.finished && !expired) uv_run(&w.loop, UV_RUN_ONCE);
  client.stream.reset();
  bool drain_expired = false;
  Timer drain_limit(&w.loop, [&] { drain_expired = true; });
  drain_limit.start(2000ms);
  drain_ledger(w, drain_expired);
  w.origin_conns.clear();
  // Let the proxy notice the close and tidy up before the next input.
  Timer settle(&w.loop, [] {});
  settle.start(1ms);
  uv_run(&w.loop, UV_RUN_ONCE);
  return 0;
}

// A Server that is never started, on its own loop, with a discarding log, and an origin
// connection the test plays through the upstream pool. PaidServerFixture adds the real paid
// path: a policy, a SQLite ledger in a private temp dir with its writer thread, a throwaway
// wallet, and the PaidAttempt hooks on every exchange.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "fake_streams.hpp"
#include "flow/payment/evm_key.hpp"
#include "flow/payment/signer_registry.hpp"
#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_store.hpp"
#include "flow/proxy/exchange/client_connection.hpp"
#include "flow/proxy/exchange/exchange.hpp"
#include "flow/proxy/log_writer.hpp"
#include "flow/proxy/network/upstream.hpp"
#include "flow/proxy/paid/paid_attempt.hpp"
#include "flow/proxy/paid/payment_services.hpp"
#include "flow/proxy/server.hpp"
#include "flow/storage/ledger.hpp"
#include "flow/storage/ledger_writer.hpp"

namespace flow::proxy::testing {

// The pool key of http://origin.test (Target::pool_key).
inline constexpr const char* kOrigin = "http://origin.test:80";

struct ServerFixture {
  explicit ServerFixture(policy::ProxySettings settings = {}) {
    uv_loop_init(&loop);
    log_writer = std::make_unique<LogWriter>(&loop, ::open("/dev/null", O_WRONLY),
                                             /*owns_fd=*/true);
    logger = std::make_unique<Logger>(*log_writer, LogLevel::error);
    server = std::make_unique<Server>(&loop, std::move(settings), *logger, *log_writer);
  }
  ~ServerFixture() {
    server.reset();
    logger.reset();
    log_writer.reset();
    uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks
    CHECK(uv_loop_close(&loop) == 0);
  }

  // An idle pooled connection to kOrigin whose far end is the test. The pool owns it.
  FakeByteStream& pooled_origin() {
    auto stream = std::make_unique<FakeByteStream>("198.51.100.1:80");
    FakeByteStream& origin = *stream;
    server->pool().put(std::make_unique<UpstreamConnection>(std::move(stream), kOrigin, 64 * 1024));
    REQUIRE(server->pool().idle_count() == 1);
    return origin;
  }

  // Runs the loop until `done` holds (ledger completions arrive from the writer thread).
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  uv_loop_t loop{};
  std::unique_ptr<LogWriter> log_writer;
  std::unique_ptr<Logger> logger;
  std::unique_ptr<Server> server;
};

// The agent every paid fixture speaks for, and a policy that lets it pay origin.test up to
// 1 USDC a request on Base.
inline constexpr const char* kPaidAgent = "agent-under-test";
inline constexpr const char* kPaidPolicy =
    "version: 1\n"
    "organization:\n"
    "  posture: block\n"
    "  networks: [eip155:8453]\n"
    "  caps:\n"
    "    per_request: [1 USDC]\n"
    "agents:\n"
    "  - id: agent-under-test\n"
    "merchants:\n"
    "  - name: shop\n"
    "    host: origin.test\n"
    "    action: allow\n";

inline policy::ProxySettings paid_settings() {
  policy::ProxySettings s;
  s.agent = kPaidAgent;
  return s;
}

struct PaidServerFixture : ServerFixture {
  explicit PaidServerFixture(policy::ProxySettings settings = paid_settings(),
                             const std::string& policy_text = kPaidPolicy)
      : ServerFixture(std::move(settings)) {
    std::string pattern = (std::filesystem::temp_directory_path() / "402flow-unit-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    auto config = policy::parse_flow_config(policy_text, "flow.yaml");
    auto store = std::make_shared<policy::PolicyStore>(config.policy);
    storage::LedgerOptions options;
    options.path = dir + "/ledger.db";
    options.mode = storage::OpenMode::owner;
    auto writer =
        std::make_unique<storage::LedgerWriter>(std::make_unique<storage::Ledger>(options));
    payment::SignerRegistry signers;
    signers.add("test", {"eip155:8453"},
                std::make_unique<payment::EvmSigner>(payment::EvmKey::generate()));
    services = std::make_unique<PaymentServices>(&loop, store, std::move(writer),
                                                 std::move(signers), options.url_query);
    server->set_hooks_factory([this](Exchange& exchange) {
      return std::make_unique<PaidAttempt>(exchange, services.get());
    });
  }
  ~PaidServerFixture() {
    server.reset();    // no exchange is left to receive a completion
    services.reset();  // stops the writer: every job has run
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  // The ledger's receipts, read through a second connection.
  std::vector<storage::Receipt> receipts() const {
    storage::LedgerOptions options;
    options.path = dir + "/ledger.db";
    options.mode = storage::OpenMode::shared;
    storage::Ledger reader(options);
    auto all = reader.receipts({});
    REQUIRE(all.ok());
    return all.value();
  }

  // Every approval, newest first, read through a second connection.
  std::vector<storage::Approval> approvals() const {
    storage::LedgerOptions options;
    options.path = dir + "/ledger.db";
    options.mode = storage::OpenMode::shared;
    storage::Ledger reader(options);
    auto all = reader.approvals({});
    REQUIRE(all.ok());
    return all.value();
  }

  // One attempt, read through a second connection.
  std::optional<storage::Attempt> attempt(std::int64_t id) const {
    storage::LedgerOptions options;
    options.path = dir + "/ledger.db";
    options.mode = storage::OpenMode::shared;
    storage::Ledger reader(options);
    auto found = reader.get_attempt(id);
    REQUIRE(found.ok());
    return found.value();
  }

  std::string dir;
  std::unique_ptr<PaymentServices> services;
};

// A fixture with a client connection accepted over a FakeByteStream the test plays.
template <class Fixture>
struct WithClient : Fixture {
  template <class... Args>
  explicit WithClient(Args&&... args) : Fixture(std::forward<Args>(args)...) {
    auto stream = std::make_unique<FakeByteStream>();
    client = stream.get();
    connection = std::make_unique<ClientConnection>(*this->server, std::move(stream));
    connection->start_accepted();
  }
  ~WithClient() { connection.reset(); }

  FakeByteStream* client = nullptr;
  std::unique_ptr<ClientConnection> connection;
};

}  // namespace flow::proxy::testing

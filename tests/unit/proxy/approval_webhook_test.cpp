// The approval webhook against real receivers on 127.0.0.1 (TestOrigin, on its own threads),
// driven by a real ApprovalDesk on a uv loop: signed deliveries of opened and decided approvals,
// a receiver that refuses or fails (bounded tries, then given up, the loop still on time), a
// receiver that never answers (the try's timeout), a full queue, and the URL and signature rules.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "flow/payment/hex.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/proxy/admin/approval_webhook.hpp"
#include "flow/proxy/network/handle_close.hpp"
#include "flow/proxy/paid/approval_desk.hpp"
#include "support/temp_dir.hpp"
#include "support/test_origin.hpp"

namespace flow::proxy {
namespace {

using namespace std::chrono_literals;
using testing::OriginExchange;
using testing::TestOrigin;

constexpr std::string_view kSecret = "s3cret-webhook-key";

storage::Approval sample_approval(std::string id, storage::ApprovalState state) {
  storage::Approval a;
  a.id = std::move(id);
  a.state = state;
  a.request.agent = "agent-a";
  a.request.merchant_origin = "http://127.0.0.1:4021";
  a.request.method = "GET";
  a.request.url = "http://127.0.0.1:4021/v2/weather";
  a.request.rule = "review.amount_over";
  a.request.decision_id = "dec_1";
  a.request.decimals = 6;
  a.request.expires_at_ms = 4'102'444'800'000;  // 2100-01-01T00:00:00Z: still pending
  a.request.offer.protocol = "x402";
  a.request.offer.scheme = "exact";
  a.request.offer.network = "eip155:8453";
  a.request.offer.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  a.request.offer.amount = 10000;
  a.request.offer.pay_to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
  a.created_at_ms = 1'767'225'500'000;
  if (state != storage::ApprovalState::pending) {
    a.resolved_at_ms = 1'767'225'550'000;
    a.resolved_by = "ops";
    a.note = "too much";
  }
  return a;
}

// The HMAC the receiver computes on its own.
std::string expected_signature(std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return "sha256=" + payment::to_hex(std::span<const std::uint8_t>(mac, len), false);
}

// A loop, a log file, a desk and a webhook on them.
struct Rig {
  explicit Rig(WebhookOptions options) {
    uv_loop_init(&loop);
    log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    writer = std::make_unique<LogWriter>(&loop, log_fd, true);
    logger = std::make_unique<Logger>(*writer, LogLevel::debug);
    options.secret = std::string(kSecret);
    const auto assets = policy::PolicySnapshot::empty()->assets();
    webhook = std::make_unique<ApprovalWebhook>(
        &loop, std::move(options),
        [this, assets](const storage::Approval& a) {
          return approval_object_json(a, assets, desk.held_for(a.id));
        },
        *logger);
    webhook->observe(desk);
  }
  ~Rig() {
    webhook.reset();
    writer->flush_blocking();
    logger.reset();
    writer.reset();
    close_loop(&loop);
  }

  std::string log_path() const { return dir.path() + "/webhook.log"; }
  std::string log_text() {
    writer->flush_blocking();
    std::ifstream in(log_path());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Runs the loop until `done` holds (checked every 5 ms) or `limit` passes; true when it held.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    struct Check {
      std::function<bool()> done;
      bool held = false;
      uv_timer_t poll{};
      uv_timer_t limit{};
    } check{done};
    uv_timer_init(&loop, &check.poll);
    uv_timer_init(&loop, &check.limit);
    check.poll.data = check.limit.data = &check;
    uv_timer_start(
        &check.poll,
        [](uv_timer_t* t) {
          auto* c = static_cast<Check*>(t->data);
          if (c->done()) {
            c->held = true;
            uv_stop(t->loop);
          }
        },
        5, 5);
    uv_timer_start(
        &check.limit, [](uv_timer_t* t) { uv_stop(t->loop); },
        static_cast<std::uint64_t>(limit.count()), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&check.poll), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check.limit), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return check.held;
  }

  testing::TempDir dir;
  uv_loop_t loop{};
  int log_fd = -1;
  std::unique_ptr<LogWriter> writer;
  std::unique_ptr<Logger> logger;
  ApprovalDesk desk;
  std::unique_ptr<ApprovalWebhook> webhook;
};

// A repeating 10 ms timer that records how late it ever fired: the loop's responsiveness.
struct LatenessProbe {
  explicit LatenessProbe(uv_loop_t* loop) {
    uv_timer_init(loop, &timer);
    timer.data = this;
    expected = uv_now(loop) + 10;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* p = static_cast<LatenessProbe*>(t->data);
          uv_update_time(t->loop);
          const std::uint64_t now = uv_now(t->loop);
          if (now > p->expected) p->worst_ms = std::max(p->worst_ms, now - p->expected);
          p->expected = now + 10;
          ++p->ticks;
        },
        10, 10);
  }
  void stop() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
  uv_timer_t timer{};
  std::uint64_t expected = 0;
  std::uint64_t worst_ms = 0;
  std::uint64_t ticks = 0;
};

// A port on 127.0.0.1 where nothing listens (bound once, then closed).
std::uint16_t closed_port() {
  TestOrigin origin([](OriginExchange&) {});
  const std::uint16_t port = origin.port();
  origin.stop();
  return port;
}

}  // namespace

TEST_CASE("approval webhook: signature is HMAC-SHA256 of the body, in hex (RFC 4231 case 2)") {
  CHECK(webhook_signature("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("approval webhook: only http:// URLs with a host") {
  CHECK(webhook_url_problem("http://127.0.0.1:9000/hook").empty());
  CHECK(webhook_url_problem("http://hooks.internal/402flow").empty());
  CHECK_FALSE(webhook_url_problem("https://127.0.0.1/hook").empty());
  CHECK_FALSE(webhook_url_problem("ftp://x/").empty());
  CHECK_FALSE(webhook_url_problem("http://").empty());
  WebhookOptions bad;
  bad.url = "https://example.com/";
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    // Gone before the loop closes: the writer's timer is closed on it.
    LogWriter writer(&loop, ::open("/dev/null", O_WRONLY), true);
    Logger log(writer, LogLevel::error);
    CHECK_THROWS_AS(ApprovalWebhook(
                        &loop, bad, [](const storage::Approval&) { return "{}"; }, log),
                    std::invalid_argument);
  }
  close_loop(&loop);
}

TEST_CASE(
    "approval webhook: opened and decided approvals arrive signed, with the contract's fields") {
  TestOrigin receiver([](OriginExchange& ex) {
    ex.body();
    ex.respond(204, "");
  });
  WebhookOptions options;
  options.url = receiver.url("/hooks/402flow");
  Rig rig(options);
  auto waiter = rig.desk.wait("apr_1", [](const storage::Approval&) {});
  rig.desk.opened(sample_approval("apr_1", storage::ApprovalState::pending));
  rig.desk.decided(sample_approval("apr_1", storage::ApprovalState::denied));
  REQUIRE(rig.run_until([&] { return rig.webhook->stats().delivered == 2; }, 10s));
  CHECK(rig.webhook->pending() == 0);

  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 2);
  const char* events[] = {"approval.opened", "approval.decided"};
  for (int i = 0; i < 2; ++i) {
    const auto& r = requests[static_cast<std::size_t>(i)];
    CAPTURE(r.head);
    CHECK(r.method == "POST");
    CHECK(r.target == "/hooks/402flow");
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.header("x-402flow-event") == events[i]);
    CHECK(r.header("x-402flow-signature") == expected_signature(r.body));
    const auto delivery = r.header("x-402flow-delivery").value_or("");
    CHECK(delivery.starts_with("dlv_"));
    CHECK(delivery.size() == 4 + 24);
    const auto body = nlohmann::json::parse(r.body);
    CHECK(body["event"] == events[i]);
    CHECK(body["sent_at"].get<std::string>().ends_with("Z"));
    const auto& a = body["approval"];
    CHECK(a["id"] == "apr_1");
    CHECK(a["agent"] == "agent-a");
    CHECK(a["merchant"] == "http://127.0.0.1:4021");
    CHECK(a["method"] == "GET");
    CHECK(a["url"] == "http://127.0.0.1:4021/v2/weather");
    CHECK(a["rule"] == "review.amount_over");
    CHECK(a["decision_id"] == "dec_1");
    CHECK(a["offer"]["amount"] == "10000");
    CHECK(a["offer"]["decimals"] == 6);
    CHECK(a["offer"]["symbol"] == "USDC");
    CHECK(a["offer"]["display"] == "0.01 USDC");
    CHECK(a["offer"]["pay_to"] == "0x209693bc6afc0c5328ba36faf03c514ef312287c");
    CHECK(a["expires_at"] == "2100-01-01T00:00:00Z");
    CHECK(a["expires_at_ms"] == 4'102'444'800'000);
    CHECK(a["attempt_id"].is_null());
  }
  const auto opened = nlohmann::json::parse(requests[0].body)["approval"];
  const auto decided = nlohmann::json::parse(requests[1].body)["approval"];
  CHECK(opened["state"] == "pending");
  CHECK(opened["resolved_at"].is_null());
  CHECK(opened["held"] == 1);  // the waiter above
  CHECK(decided["state"] == "denied");
  CHECK(decided["resolved_by"] == "ops");
  CHECK(decided["note"] == "too much");
  CHECK(decided["resolved_at_ms"] == 1'767'225'550'000);
  CHECK(requests[0].header("x-402flow-delivery") != requests[1].header("x-402flow-delivery"));
  CHECK(rig.log_text().find(kSecret) == std::string::npos);
}

TEST_CASE(
    "approval webhook: a receiver that is down gets exactly max_tries, then the event is "
    "dropped; the loop stays on time") {
  WebhookOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/hook";
  options.max_tries = 5;
  options.first_backoff = 20ms;  // 20 + 40 + 80 + 160 ms between the five tries
  Rig rig(options);
  LatenessProbe probe(&rig.loop);
  const auto started = std::chrono::steady_clock::now();
  rig.desk.opened(sample_approval("apr_down", storage::ApprovalState::pending));
  REQUIRE(rig.run_until([&] { return rig.webhook->stats().given_up == 1; }, 10s));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  probe.stop();
  CHECK(rig.webhook->stats().tries == 5);
  CHECK(rig.webhook->stats().delivered == 0);
  CHECK(rig.webhook->pending() == 0);
  CHECK(elapsed >= 300ms);  // the backoff was waited, not skipped
  MESSAGE("timer lateness while retrying: worst " << probe.worst_ms << " ms over " << probe.ticks
                                                  << " ticks");
  CHECK(probe.worst_ms < 50);
  // Nothing more is tried once given up.
  rig.run_until([] { return false; }, 200ms);
  CHECK(rig.webhook->stats().tries == 5);
  const std::string log = rig.log_text();
  CHECK(log.find("approval webhook given up") != std::string::npos);
  CHECK(log.find("apr_down") != std::string::npos);
  CHECK(log.find(kSecret) == std::string::npos);
}

TEST_CASE("approval webhook: a receiver answering 503 sees the same delivery max_tries times") {
  TestOrigin receiver([](OriginExchange& ex) {
    ex.body();
    ex.respond(503, "{}");
  });
  WebhookOptions options;
  options.url = receiver.url("/hook");
  options.max_tries = 3;
  options.first_backoff = 10ms;
  Rig rig(options);
  rig.desk.decided(sample_approval("apr_503", storage::ApprovalState::approved));
  REQUIRE(rig.run_until([&] { return rig.webhook->stats().given_up == 1; }, 10s));
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& r : requests) {
    CHECK(r.header("x-402flow-delivery") == requests[0].header("x-402flow-delivery"));
    CHECK(r.header("x-402flow-signature") == expected_signature(r.body));
  }
  CHECK(rig.log_text().find("status 503") != std::string::npos);
}

TEST_CASE("approval webhook: a receiver that never answers is cut at the timeout") {
  testing::Gate release;
  TestOrigin receiver([&](OriginExchange& ex) {
    ex.body();
    ex.wait(release, testing::deadline_in(10s));  // holds the connection, answers nothing
  });
  WebhookOptions options;
  options.url = receiver.url("/hook");
  options.timeout = 200ms;
  options.max_tries = 2;
  options.first_backoff = 10ms;
  Rig rig(options);
  LatenessProbe probe(&rig.loop);
  const auto started = std::chrono::steady_clock::now();
  rig.desk.opened(sample_approval("apr_hang", storage::ApprovalState::pending));
  REQUIRE(rig.run_until([&] { return rig.webhook->stats().given_up == 1; }, 10s));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  probe.stop();
  release.open();
  CHECK(receiver.request_count() == 2);
  CHECK(elapsed >= 400ms);
  CHECK(elapsed < 3s);
  CHECK(probe.worst_ms < 50);
  CHECK(rig.log_text().find("\"error\":\"timeout\"") != std::string::npos);
}

TEST_CASE("approval webhook: the queue is bounded; what does not fit is dropped and counted") {
  WebhookOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/hook";
  options.max_queue = 10;
  options.max_tries = 1;
  Rig rig(options);
  for (int i = 0; i < 25; ++i) {
    rig.desk.opened(sample_approval("apr_" + std::to_string(i), storage::ApprovalState::pending));
  }
  CHECK(rig.webhook->pending() == 10);
  CHECK(rig.webhook->stats().overflowed == 15);
  REQUIRE(rig.run_until([&] { return rig.webhook->pending() == 0; }, 10s));
  CHECK(rig.webhook->stats().given_up == 10);
  CHECK(rig.log_text().find("approval webhook queue full") != std::string::npos);
}

}  // namespace flow::proxy

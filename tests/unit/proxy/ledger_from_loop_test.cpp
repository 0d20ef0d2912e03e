// The proxy's side of the ledger contract: the loop submits durable work to the writer thread
// and gets the completion back on the loop thread, without waiting for it.
#include <doctest/doctest.h>
#include <uv.h>

#include <thread>

#include "../storage/ledger_fixture.hpp"
#include "flow/proxy/network/loop_mailbox.hpp"
#include "flow/storage/ledger_writer.hpp"

using namespace flow;
using storage::testing::make_intent;
using storage::testing::options_for;
using storage::testing::TempDir;

TEST_CASE("a reservation submitted from the loop completes on the loop thread after commit") {
  TempDir dir;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    proxy::LoopMailbox mailbox(&loop);
    storage::LedgerWriter writer(std::make_unique<storage::Ledger>(
        options_for(dir.file("ledger.db"), storage::OpenMode::owner)));
    const auto loop_thread = std::this_thread::get_id();

    policy::CapCheck cap;
    cap.counter_key = "agent|alice|USDC|day";
    cap.rule = "agents[alice].caps";
    cap.reason = policy::ReasonCode::over_agent_cap;
    cap.max_count = 1;

    int done = 0;
    std::thread::id completed_on;
    std::vector<storage::ReserveStatus> statuses;
    auto on_reserved = [&](storage::Result<storage::ReserveOutcome> r) {
      completed_on = std::this_thread::get_id();
      REQUIRE(r.ok());
      statuses.push_back(r.value().status);
      ++done;
    };
    REQUIRE(writer
                .reserve(make_intent("k1", 10000), {cap},
                         mailbox.on_loop<storage::Result<storage::ReserveOutcome>>(on_reserved))
                .ok());
    REQUIRE(writer
                .reserve(make_intent("k2", 10000), {cap},
                         mailbox.on_loop<storage::Result<storage::ReserveOutcome>>(on_reserved))
                .ok());
    // submit() returned at once; the loop keeps running until both completions arrive.
    while (done < 2) uv_run(&loop, UV_RUN_ONCE);
    CHECK(completed_on == loop_thread);
    REQUIRE(statuses.size() == 2);
    CHECK(statuses[0] == storage::ReserveStatus::reserved);
    CHECK(statuses[1] == storage::ReserveStatus::refused);  // the count cap of 1 is used up
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

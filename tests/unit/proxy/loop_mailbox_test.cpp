#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <thread>
#include <vector>

#include "flow/proxy/network/loop_mailbox.hpp"

using flow::proxy::LoopMailbox;

TEST_CASE("functions posted from other threads run on the loop thread, in order per thread") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    LoopMailbox mailbox(&loop);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 1000;
    const auto loop_thread = std::this_thread::get_id();
    std::vector<int> last_seen(kThreads, -1);
    int delivered = 0;
    bool all_on_loop = true;
    bool in_order = true;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          mailbox.post([&, t, i] {
            all_on_loop = all_on_loop && std::this_thread::get_id() == loop_thread;
            in_order = in_order && last_seen[static_cast<std::size_t>(t)] == i - 1;
            last_seen[static_cast<std::size_t>(t)] = i;
            ++delivered;
          });
        }
      });
    }
    while (delivered < kThreads * kPerThread) uv_run(&loop, UV_RUN_ONCE);
    for (auto& th : threads) th.join();
    CHECK(delivered == kThreads * kPerThread);
    CHECK(all_on_loop);
    CHECK(in_order);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a wrapped callback carries its argument to the loop thread") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    LoopMailbox mailbox(&loop);
    std::string got;
    std::thread::id ran_on;
    auto callback = mailbox.on_loop<std::string>([&](std::string v) {
      got = std::move(v);
      ran_on = std::this_thread::get_id();
    });
    std::thread other([&] { callback("from the writer thread"); });
    other.join();
    while (got.empty()) uv_run(&loop, UV_RUN_ONCE);
    CHECK(got == "from the writer thread");
    CHECK(ran_on == std::this_thread::get_id());
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("posts after the mailbox is gone are dropped, not delivered to freed memory") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::function<void(int)> late;
  int calls = 0;
  {
    LoopMailbox mailbox(&loop);
    late = mailbox.on_loop<int>([&](int) { ++calls; });
    CHECK(mailbox.post([] {}));
  }
  std::thread other([&] { late(1); });
  other.join();
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(calls == 0);
  CHECK(uv_loop_close(&loop) == 0);
}

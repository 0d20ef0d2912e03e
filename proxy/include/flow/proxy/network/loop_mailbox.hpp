#pragma once
#include <uv.h>

#include <functional>
#include <memory>

namespace flow::proxy {

// Runs functions on the loop thread that other threads hand over: this is how completions of
// the ledger's writer thread (and, later, of other off-loop work) come back to the proxy
// without the loop ever blocking. Functions run in the order they were posted; after the
// mailbox is destroyed, posts are dropped.
class LoopMailbox {
 public:
  explicit LoopMailbox(uv_loop_t* loop);
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // From any thread. Returns false when the mailbox is closed (the function is dropped).
  bool post(std::function<void()> fn) const;

  // Wraps a loop-thread callback into one that may be called from any thread: calling it
  // posts the call, with its argument, to the loop.
  template <class T>
  std::function<void(T)> on_loop(std::function<void(T)> fn) const {
    return [core = core_, fn = std::move(fn)](T value) mutable {
      post_to(core,
              [fn = std::move(fn), value = std::move(value)]() mutable { fn(std::move(value)); });
    };
  }

 private:
  struct Core;
  static bool post_to(const std::shared_ptr<Core>& core, std::function<void()> fn);
  std::shared_ptr<Core> core_;
};

}  // namespace flow::proxy

#include "flow/proxy/network/loop_mailbox.hpp"

#include <deque>
#include <mutex>

#include "flow/proxy/network/handle_close.hpp"

namespace flow::proxy {

namespace {
struct AsyncHandle {
  uv_async_t handle{};
};
}  // namespace

// Shared by the mailbox and by every wrapper handed to other threads, so a late post finds
// `closed` instead of freed memory.
struct LoopMailbox::Core : std::enable_shared_from_this<LoopMailbox::Core> {
  std::mutex mu;
  std::deque<std::function<void()>> queue;
  bool closed = false;
  uv_async_t* async = nullptr;  // valid while !closed

  void drain() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(mu);
      batch.swap(queue);
    }
    for (auto& fn : batch) fn();
  }
};

LoopMailbox::LoopMailbox(uv_loop_t* loop) : core_(std::make_shared<Core>()) {
  auto async = std::make_unique<AsyncHandle>();
  uv_async_init(loop, &async->handle, [](uv_async_t* h) {
    // A delivered function may destroy the mailbox: keep the core alive until the drain ends.
    auto core = static_cast<Core*>(h->data)->shared_from_this();
    core->drain();
  });
  async->handle.data = core_.get();  // the handle is closed before the mailbox lets go of core_
  core_->async = &async->handle;
  async.release();  // closed and freed in the destructor
}

LoopMailbox::~LoopMailbox() {
  uv_async_t* async = nullptr;
  {
    std::lock_guard lock(core_->mu);
    core_->closed = true;
    core_->queue.clear();
    async = core_->async;
    core_->async = nullptr;
  }
  std::unique_ptr<AsyncHandle> owner(reinterpret_cast<AsyncHandle*>(async));
  close_handle(reinterpret_cast<uv_handle_t*>(async), std::move(owner));
}

bool LoopMailbox::post(std::function<void()> fn) const {
  return post_to(core_, std::move(fn));
}

bool LoopMailbox::post_to(const std::shared_ptr<Core>& core, std::function<void()> fn) {
  std::lock_guard lock(core->mu);
  if (core->closed) return false;
  core->queue.push_back(std::move(fn));
  uv_async_send(core->async);  // coalesces: one wake-up drains everything queued
  return true;
}

}  // namespace flow::proxy

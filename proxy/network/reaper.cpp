#include "flow/proxy/network/reaper.hpp"

#include "flow/proxy/network/handle_close.hpp"

namespace flow::proxy {

struct Reaper::Core {
  uv_idle_t idle{};
  std::vector<std::unique_ptr<Retirable>> retired;

  void reap() {
    // Destructors may retire more objects: loop until none are left.
    while (!retired.empty()) {
      auto batch = std::move(retired);
      retired.clear();
      batch.clear();
    }
    uv_idle_stop(&idle);
  }
};

Reaper::Reaper(uv_loop_t* loop) {
  auto core = std::make_unique<Core>();
  uv_idle_init(loop, &core->idle);
  core->idle.data = core.get();
  core_ = core.release();  // owned by libuv from here: freed in the close callback
}

Reaper::~Reaper() {
  core_->reap();
  close_handle(reinterpret_cast<uv_handle_t*>(&core_->idle), std::unique_ptr<Core>(core_));
}

void Reaper::retire(std::unique_ptr<Retirable> object) {
  if (!object) return;
  core_->retired.push_back(std::move(object));
  uv_idle_start(&core_->idle, [](uv_idle_t* h) { static_cast<Core*>(h->data)->reap(); });
}

void Reaper::reap_now() {
  core_->reap();
}

}  // namespace flow::proxy

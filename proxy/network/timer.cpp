#include "flow/proxy/network/timer.hpp"

#include <memory>

#include "flow/proxy/network/handle_close.hpp"

namespace flow::proxy {

struct Timer::Core {
  uv_timer_t timer{};
  std::function<void()> on_fire;
  bool owner_alive = true;  // the callback may run the owner's destructor: keep on_fire intact
};

Timer::Timer(uv_loop_t* loop, std::function<void()> on_fire) {
  auto core = std::make_unique<Core>();
  core->on_fire = std::move(on_fire);
  uv_timer_init(loop, &core->timer);
  core->timer.data = core.get();
  core_ = core.release();  // owned by libuv from here: freed in the close callback
}

Timer::~Timer() {
  core_->owner_alive = false;
  close_handle(reinterpret_cast<uv_handle_t*>(&core_->timer), std::unique_ptr<Core>(core_));
}

void Timer::start(std::chrono::milliseconds after) {
  uv_timer_start(
      &core_->timer,
      [](uv_timer_t* t) {
        auto* core = static_cast<Core*>(t->data);
        if (core->owner_alive && core->on_fire) core->on_fire();
      },
      static_cast<std::uint64_t>(after.count()), 0);
}

void Timer::stop() {
  uv_timer_stop(&core_->timer);
}

bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(&core_->timer)) != 0;
}

Deadline::Deadline(uv_loop_t* loop, std::function<void()> on_expire)
    : loop_(loop), on_expire_(std::move(on_expire)), timer_(loop, [this] { fire(); }) {}

void Deadline::arm(std::chrono::milliseconds limit) {
  limit_ = limit;
  last_touch_ = uv_now(loop_);
  timer_.start(limit);
}

void Deadline::touch() {
  last_touch_ = uv_now(loop_);
}

void Deadline::disarm() {
  limit_ = std::chrono::milliseconds(0);
  timer_.stop();
}

void Deadline::fire() {
  if (limit_.count() == 0) return;
  const std::uint64_t now = uv_now(loop_);
  const auto limit = static_cast<std::uint64_t>(limit_.count());
  if (now - last_touch_ < limit) {
    timer_.start(std::chrono::milliseconds(limit - (now - last_touch_)));
    return;
  }
  limit_ = std::chrono::milliseconds(0);
  on_expire_();
}

}  // namespace flow::proxy

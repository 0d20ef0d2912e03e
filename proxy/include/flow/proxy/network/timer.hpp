#pragma once
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace flow::proxy {

// A one-shot libuv timer owned by value; the callback never runs after destruction or stop().
class Timer {
 public:
  Timer(uv_loop_t* loop, std::function<void()> on_fire);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(std::chrono::milliseconds after);
  void stop();
  bool active() const;

 private:
  struct Core;
  Core* core_;  // freed by the close callback
};

// An inactivity deadline for one direction. touch() is cheap (no timer re-arm): when the timer
// fires early because of activity since, it re-arms for the remainder.
class Deadline {
 public:
  Deadline(uv_loop_t* loop, std::function<void()> on_expire);

  // Arms the deadline `limit` after now; `touch()` pushes it back.
  void arm(std::chrono::milliseconds limit);
  void touch();
  void disarm();
  bool armed() const { return limit_.count() > 0; }

 private:
  void fire();

  uv_loop_t* loop_;
  std::function<void()> on_expire_;
  Timer timer_;
  std::chrono::milliseconds limit_{0};
  std::uint64_t last_touch_ = 0;
};

}  // namespace flow::proxy

#pragma once
#include <uv.h>

#include <memory>
#include <vector>

namespace flow::proxy {

// Something whose destruction must wait until no call into it is on the stack.
class Retirable {
 public:
  virtual ~Retirable() = default;
};

// Destroys retired objects on the next loop iteration, outside every callback that may still
// be running inside them.
class Reaper {
 public:
  explicit Reaper(uv_loop_t* loop);
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void retire(std::unique_ptr<Retirable> object);
  void reap_now();

 private:
  struct Core;
  Core* core_;  // freed by the close callback
};

}  // namespace flow::proxy

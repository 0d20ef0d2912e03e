#pragma once
#include <uv.h>

#include <memory>

namespace flow::proxy {

// The one way a libuv handle is closed: `owner` (the heap object holding the handle) is
// released to libuv and destroyed in the close callback, when libuv no longer refers to it.
// Requests still pending on the handle complete (with UV_ECANCELED) before that.
template <typename Owner>
void close_handle(uv_handle_t* handle, std::unique_ptr<Owner> owner) {
  handle->data = owner.release();
  uv_close(handle,
           [](uv_handle_t* h) { std::unique_ptr<Owner> reclaimed(static_cast<Owner*>(h->data)); });
}

// Ends a loop whose handles have all been closed: runs it until every close callback has run,
// then closes it (once more if a callback scheduled another close).
inline void close_loop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) {
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
  }
}

}  // namespace flow::proxy

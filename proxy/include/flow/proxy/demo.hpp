#pragma once

namespace flow::proxy {

// `402flow demo`: starts a local origin and the proxy on loopback, sends requests through the
// proxy and prints what happened. Returns the process exit code.
int run_demo();

}  // namespace flow::proxy

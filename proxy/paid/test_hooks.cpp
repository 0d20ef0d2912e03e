// The crash tests' stop points: compiled only into test builds (FLOW_TEST_HOOKS).
#include <csignal>
#include <cstdlib>
#include <string_view>

#include "flow/proxy/paid/paid_attempt.hpp"

namespace flow::proxy {

void stop_here_for_test(std::string_view stage) {
  static const char* const at = std::getenv("FLOW402_TEST_STOP_AT");
  if (at != nullptr && stage == at) std::raise(SIGSTOP);
}

}  // namespace flow::proxy

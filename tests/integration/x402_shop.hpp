// A test merchant shared by the integration tests of the proxy's own answers.
#pragma once

#include <cstddef>

#include "support/test_origin.hpp"
#include "support/x402_origin_wire.hpp"

namespace flow::testing {

// An x402 merchant on a TestOrigin: /free answers 200; everything else asks 0.01 USDC and
// settles any request that pays.
struct Shop {
  TestOrigin origin{[this](OriginExchange& ex) { serve(ex); }};

  void serve(OriginExchange& ex) {
    ex.body();
    if (ex.request().target.rfind("/free", 0) == 0) return ex.respond(200, "free");
    if (ex.request().header("payment-signature")) {
      return ex.respond(200, R"({"paid":true})", {{"PAYMENT-RESPONSE", settlement_success()}});
    }
    ex.respond(402, "{}", {{"PAYMENT-REQUIRED", v2_challenge(origin.url(ex.request().target))}});
  }
  std::size_t credentials_seen() const {
    std::size_t n = 0;
    for (const auto& r : origin.requests()) n += r.header("payment-signature") ? 1 : 0;
    return n;
  }
};

}  // namespace flow::testing

#pragma once
#include <string_view>

namespace flow::payment {

// What the merchant's answer to a paid request proves about the money, whatever the rail.
enum class SettlementVerdict {
  settled,  // success:true on an answer below 400
  failed,   // a refusal that says nothing moved: the payload, signature or balance was
            // rejected before any transaction existed
  unknown,  // anything else: the money may have moved; the budget stays held
};

std::string_view settlement_verdict_name(SettlementVerdict verdict);

}  // namespace flow::payment

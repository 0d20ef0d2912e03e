// Shared mode: an agent proves itself with a token whose SHA-256 the policy lists.
#include <doctest/doctest.h>

#include "policy_test_support.hpp"

namespace {
const char* const kHash = "75648b231af668b363608a5c3ed68a061de2d098bc4e185e41eb0d13dd1c98c5";
const char* const kNext = "839c5d36288bcd1f7cccce08cc78b32bc6523344230ea61ffb6f85ff22ed32ed";
}  // namespace

TEST_CASE("an agent is authenticated by any of its token hashes, in either hex case") {
  const auto p = policy_test::load(std::string("agents:\n  - id: bot\n    token_sha256: [") +
                                   kHash + ", " + kNext + "]\n  - id: sidecar\n");
  CHECK(p->authenticate("bot", kHash) != nullptr);
  CHECK(p->authenticate("bot", kNext) != nullptr);
  CHECK(p->authenticate(
            "bot", "75648B231AF668B363608A5C3ED68A061DE2D098BC4E185E41EB0D13DD1C98C5") != nullptr);
}

TEST_CASE("a wrong hash, another agent's id, or an agent without hashes is not authenticated") {
  const auto p = policy_test::load(std::string("agents:\n  - id: bot\n    token_sha256: ") + kHash +
                                   "\n  - id: sidecar\n");
  CHECK(p->authenticate("bot", kNext) == nullptr);
  CHECK(p->authenticate("sidecar", kHash) == nullptr);
  CHECK(p->authenticate("nobody", kHash) == nullptr);
  CHECK(p->authenticate("bot", std::string(kHash).substr(0, 63)) == nullptr);
  CHECK(p->authenticate("bot", "") == nullptr);
}

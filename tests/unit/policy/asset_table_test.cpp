#include <doctest/doctest.h>

#include "flow/policy/asset_table.hpp"
#include "flow/policy/unit_amount.hpp"

using flow::policy::AssetEntry;
using flow::policy::AssetTable;

TEST_CASE("the built-in table knows USDC on six chains and Lightning millisatoshi") {
  const auto t = AssetTable::with_built_ins();
  const std::pair<const char*, const char*> usdc[] = {
      {"eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
      {"eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e"},
      {"eip155:137", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"},
      {"eip155:42161", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"},
      {"eip155:43114", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"},
      {"eip155:1", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"},
  };
  for (auto [network, address] : usdc) {
    CAPTURE(network);
    const AssetEntry* e = t.find(network, address);
    REQUIRE(e != nullptr);
    CHECK(e->symbol == "USDC");
    CHECK(e->decimals == 6);
  }
  const AssetEntry* msat = t.find("lightning", "msat");
  REQUIRE(msat != nullptr);
  CHECK(msat->symbol == "msat");
  CHECK(msat->decimals == 0);
  CHECK(t.entries().size() == 7);
}

TEST_CASE("EVM assets are found in any letter case; other assets only exactly") {
  auto t = AssetTable::with_built_ins();
  CHECK(t.find("eip155:8453", "0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913") != nullptr);
  CHECK(t.find("eip155:8453", "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913") != nullptr);
  CHECK(t.find("eip155:137", "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913") == nullptr);
  REQUIRE_FALSE(t.add({"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
                       "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "SOLUSDC", 6, false}));
  CHECK(t.find("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
               "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v") != nullptr);
  CHECK(t.find("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
               "epjfwdd5aufqssqem2qn1xzybapc8g4wegGkzwytdt1v") == nullptr);
  CHECK(t.find("LIGHTNING", "msat") == nullptr);
}

TEST_CASE("operator entries are stored lower-case and may not redefine a unit") {
  auto t = AssetTable::with_built_ins();
  CHECK_FALSE(
      t.add({"eip155:8453", "0x60A3E35CC302BFA44CB288BC5A4F316FDB1ADB42", "EURC", 6, false}));
  CHECK(t.entries().back().asset == "0x60a3e35cc302bfa44cb288bc5a4f316fdb1adb42");
  CHECK(t.add({"eip155:8453", "0x60a3e35cc302bfa44cb288bc5a4f316fdb1adb42", "E", 6, false})
            .has_value());
  CHECK(t.add({"eip155:10", "0x0b2c639c533813f4aa9d7837caf62653d097ff85", "USDC", 18, false})
            .has_value());
  CHECK_FALSE(t.add({"eip155:10", "0x0b2c639c533813f4aa9d7837caf62653d097ff85", "USDC", 6, false})
                  .has_value());
}

TEST_CASE("addresses compare case-insensitively only when both are EVM addresses") {
  using flow::policy::same_address;
  CHECK(same_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                     "0x209693bc6afc0c5328ba36faf03c514ef312287c"));
  CHECK_FALSE(same_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                           "0x209693bc6afc0c5328ba36faf03c514ef312287d"));
  CHECK_FALSE(same_address("AbC", "abc"));
  CHECK(same_address("AbC", "AbC"));
}

TEST_CASE("unit amounts parse in table units and format back") {
  const auto t = AssetTable::with_built_ins();
  const auto parsed = flow::policy::parse_unit_amount("0.05   USDC on eip155:137", t);
  REQUIRE(std::holds_alternative<flow::policy::UnitAmount>(parsed));
  const auto& a = std::get<flow::policy::UnitAmount>(parsed);
  CHECK(a.atomic == 50000);
  CHECK(a.network == "eip155:137");
  CHECK(a.unit_key() == "USDC@eip155:137");
  CHECK(a.to_string() == "0.05 USDC on eip155:137");
  CHECK(a.covers(*t.find("eip155:137", "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359")));
  CHECK_FALSE(a.covers(*t.find("eip155:8453", "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913")));
  CHECK(std::holds_alternative<std::string>(flow::policy::parse_unit_amount("5 USDC in x", t)));
  CHECK(std::holds_alternative<std::string>(flow::policy::parse_unit_amount("", t)));
}

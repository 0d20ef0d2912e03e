#include <doctest/doctest.h>

#include <string>

#include "flow/payment/eip712.hpp"
#include "flow/payment/evm_key.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/hex.hpp"

using namespace flow::payment;

// Vectors from PROTOCOLS.md ("exact" on EVM with EIP-3009), and a Permit2 vector computed with a
// mainstream EVM library (ethers v6 signTypedData) for the same key and values.
namespace {

constexpr std::string_view kDevKey =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

EvmAddress addr(std::string_view text) {
  const auto a = parse_evm_address(text);
  REQUIRE(a.has_value());
  return *a;
}

std::string hex(const Hash32& h) {
  return to_hex(h);
}

Hash32 ones() {
  Hash32 n{};
  n.fill(0x01);
  return n;
}

TransferWithAuthorization vector_message() {
  TransferWithAuthorization m;
  m.from = addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  m.to = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  m.value = uint256_word(10000);
  m.valid_after = uint256_word(1740000000);
  m.valid_before = uint256_word(1740000300);
  m.nonce = ones();
  return m;
}

Eip712Domain base_sepolia() {
  return {"USDC", "2", 84532, addr("0x036CbD53842c5426634e7929541eC2318f3dCF7e")};
}
Eip712Domain base_mainnet() {
  return {"USD Coin", "2", 8453, addr("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")};
}

PermitWitnessTransferFrom permit2_vector_message() {
  PermitWitnessTransferFrom m;
  m.token = addr("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  m.amount = uint256_word(10000);
  m.spender = addr(kX402Permit2Spender);
  m.nonce = ones();
  m.deadline = uint256_word(1740000300);
  m.witness_to = addr("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  m.witness_valid_after = uint256_word(1740000000);
  return m;
}

Signature65 sig_from_hex(std::string_view text) {
  const auto bytes = from_hex(text);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() == 65);
  Signature65 s{};
  std::copy(bytes->begin(), bytes->end(), s.begin());
  return s;
}

}  // namespace

TEST_CASE("the dev key's address is the well-known first dev-chain account") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  CHECK(evm_address_checksummed(key->address()) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
}

TEST_CASE("EIP-712 type hashes match the protocol vectors") {
  CHECK(hex(eip712_type_hash(kTransferWithAuthorizationType)) ==
        "0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");
  CHECK(hex(eip712_type_hash(kEip712DomainType)) ==
        "0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");
  // Permit2's own _TYPE_HASH (name, chainId, verifyingContract; no version).
  CHECK(hex(eip712_type_hash(kPermit2DomainType)) ==
        "0x8cad95687ba82c2ce50e74f7b754645e5117c3a5bec8151c0726d5857980a866");
}

TEST_CASE("the TransferWithAuthorization struct hash matches the protocol vector") {
  CHECK(hex(struct_hash(vector_message())) ==
        "0x22e3a1ed5b4a869f9106ad6038f75d4a787a6c193130b0438fcfed65b2955e8f");
}

TEST_CASE("domain separators for Base Sepolia and Base mainnet USDC match the vectors") {
  CHECK(hex(domain_separator(base_sepolia())) ==
        "0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818");
  CHECK(hex(domain_separator(base_mainnet())) ==
        "0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f");
}

TEST_CASE("EIP-3009 digests and signatures match the vectors byte for byte") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 sh = struct_hash(vector_message());

  const Hash32 sepolia = eip712_digest(domain_separator(base_sepolia()), sh);
  CHECK(hex(sepolia) == "0x9fe080755b322a62d1a4f35186be0bf496683ba2504026c63f1ebc8761c447d8");
  CHECK(to_hex(key->sign_digest(sepolia)) ==
        "0x8b4b5b0522bb74b73e535242f8377baff3750690b35ce42b093f16a354b3c810651454a5b2542a9c3611364e"
        "9653b77b728021f03c6042b1a48ef1f0ffbabc241b");

  const Hash32 mainnet = eip712_digest(domain_separator(base_mainnet()), sh);
  CHECK(hex(mainnet) == "0x4f5f6684cc50bba5e2a6cee17748a12d3ce64434c3848420c9b6067ea89ad5aa");
  CHECK(
      to_hex(key->sign_digest(mainnet)) ==
      "0x6c820d1bcf58975e09836c7ccfd9ffa1ed1252ab31fca4a644b1e439da9ff01f57977e331afc7c38516865cba"
      "2ec4c9dbc7c7eb9b94381693fea589af99d31881b");
}

TEST_CASE(
    "the Permit2 domain separator matches Permit2's on mainnet and the vector on Base Sepolia") {
  const EvmAddress permit2 = addr(kPermit2Address);
  // Permit2's DOMAIN_SEPARATOR() on Ethereum mainnet (chain 1).
  CHECK(hex(permit2_domain_separator(1, permit2)) ==
        "0x866a5aba21966af95d6c7ab78eb2b2fc913915c28be3b9aa07cc04ff903e3f28");
  CHECK(hex(permit2_domain_separator(84532, permit2)) ==
        "0x010f27a92fb9a32622f44f001dc4d15706a85b33499cfc2ce9033113ab26592c");
}

TEST_CASE("the Permit2 witness type string is the x402 proxy's, in EIP-712 order") {
  // The proxy passes "Witness witness)TokenPermissions(...)Witness(...)" to Permit2, which
  // prepends its stub "PermitWitnessTransferFrom(TokenPermissions permitted,...,".
  const std::string stub =
      "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,"
      "uint256 deadline,";
  const std::string witness_type_string =
      "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 "
      "validAfter)";
  CHECK(std::string(kPermitWitnessTransferFromType) == stub + witness_type_string);
}

TEST_CASE("the Permit2 struct hash, digest and signature match an independent implementation") {
  const auto key = EvmKey::from_hex(kDevKey);
  REQUIRE(key.has_value());
  const Hash32 sh = struct_hash(permit2_vector_message());
  CHECK(hex(sh) == "0xcab8575f17f56979f56529a9812390523d69ffee24b6152ed28a668c5d33dadb");
  const Hash32 digest = eip712_digest(permit2_domain_separator(84532, addr(kPermit2Address)), sh);
  CHECK(hex(digest) == "0x47d2f3eed834f8bc898cd478e909721538d41f7a348c2b114116391de874a58d");
  const Signature65 sig = key->sign_digest(digest);
  CHECK(to_hex(sig) ==
        "0xb0df5e7a114cdae990cae785d1c3de73f022ea4a50103043bfd105d97719928a5c83fcebaa3a97eebf299076"
        "4c9417ee6bfa01a0e1e4f164000bf0bd4a44a47a1c");
  // Round trip: recovering the signer gives the key's address.
  CHECK(recover_signer(digest, sig) == key->address());
}

TEST_CASE("the protocol vector signatures recover to the dev key's address") {
  const EvmAddress dev = addr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  const Hash32 sh = struct_hash(vector_message());
  CHECK(recover_signer(eip712_digest(domain_separator(base_sepolia()), sh),
                       sig_from_hex("0x8b4b5b0522bb74b73e535242f8377baff3750690b35ce42b093f16a354b"
                                    "3c810651454a5b2542a9c3611364e9653b77b728021f03c6042b1a48ef1f0"
                                    "ffbabc241b")) == dev);
}

TEST_CASE("uint256 decimal strings convert both ways over the whole 256-bit range") {
  CHECK(uint256_to_decimal(Hash32{}) == "0");
  CHECK(uint256_from_decimal("0") == Hash32{});
  CHECK(uint256_from_decimal("000123") == uint256_word(123));
  CHECK(uint256_to_decimal(uint256_word(10000)) == "10000");

  Hash32 max{};
  max.fill(0xff);
  const std::string max_text =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  CHECK(uint256_to_decimal(max) == max_text);
  CHECK(uint256_from_decimal(max_text) == max);
  // 2^256 does not fit.
  CHECK_FALSE(uint256_from_decimal(
                  "115792089237316195423570985008687907853269984665640564039457584007913129639936")
                  .has_value());
  CHECK(uint256_to_decimal(ones()) ==
        "454086624460063511464984254936031011189294057512315937409637584344757371137");
  CHECK(uint256_from_decimal(
            "454086624460063511464984254936031011189294057512315937409637584344757371137") ==
        ones());

  CHECK_FALSE(uint256_from_decimal("").has_value());
  CHECK_FALSE(uint256_from_decimal("-1").has_value());
  CHECK_FALSE(uint256_from_decimal("+1").has_value());
  CHECK_FALSE(uint256_from_decimal("0x10").has_value());
  CHECK_FALSE(uint256_from_decimal("1 ").has_value());
}

TEST_CASE("uint256 words narrow to 128-bit amounts only when they fit") {
  const Atomic big = ~Atomic{0};
  CHECK(uint256_to_atomic(uint256_word(big)) == big);
  CHECK(uint256_to_atomic(uint256_word(7)) == Atomic{7});
  CHECK_FALSE(uint256_to_atomic(ones()).has_value());
}

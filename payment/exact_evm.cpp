#include "flow/payment/exact_evm.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "flow/payment/eip712.hpp"
#include "flow/payment/hex.hpp"

namespace flow::payment {
namespace {

using nlohmann::json;

// The reference facilitator wants a validBefore/deadline at least this far ahead, so that the
// transfer can still be mined; a merchant settling later than that would see it revert.
constexpr std::int64_t kSettlementMarginSeconds = 6;

constexpr std::string_view kBadPayload = "invalid_exact_evm_payload";

EvmAddress constant_address(std::string_view text) {
  // The constants are checked by the tests; a typo there must not turn into a zero address.
  return parse_evm_address(text).value();
}

// Times are int64 in our structs and uint256 on chain; a negative time means "no bound", 0.
Hash32 time_word(std::int64_t t) {
  return uint256_word(
      static_cast<Atomic>(static_cast<std::uint64_t>(std::max<std::int64_t>(t, 0))));
}

// A uint256 time narrowed for comparison with now: anything past int64 is "the far future".
std::int64_t saturating_time(const Hash32& word) {
  const auto v = uint256_to_atomic(word);
  const auto max = static_cast<Atomic>(std::numeric_limits<std::int64_t>::max());
  if (!v || *v > max) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(*v);
}

std::string decimal(const Hash32& word) {
  return uint256_to_decimal(word);
}

ExactEvmSigned sign_eip3009(const ExactEvmTerms& terms, const ExactEvmNonce& n, const EvmKey& key) {
  TransferWithAuthorization m;
  m.from = key.address();
  m.to = terms.pay_to;
  m.value = uint256_word(terms.amount);
  m.valid_after = time_word(n.valid_after);
  m.valid_before = time_word(n.valid_before);
  m.nonce = n.nonce;
  const Hash32 domain =
      domain_separator({terms.domain_name, terms.domain_version, terms.chain_id, terms.asset});
  ExactEvmSigned out;
  out.digest = eip712_digest(domain, struct_hash(m));
  out.payload = json{{"signature", to_hex(key.sign_digest(out.digest))},
                     {"authorization",
                      {{"from", evm_address_checksummed(m.from)},
                       {"to", evm_address_checksummed(m.to)},
                       {"value", decimal(m.value)},
                       {"validAfter", decimal(m.valid_after)},
                       {"validBefore", decimal(m.valid_before)},
                       {"nonce", to_hex(m.nonce)}}}};
  return out;
}

ExactEvmSigned sign_permit2(const ExactEvmTerms& terms, const ExactEvmNonce& n, const EvmKey& key) {
  PermitWitnessTransferFrom m;
  m.token = terms.asset;
  m.amount = uint256_word(terms.amount);
  m.spender = constant_address(kX402Permit2Spender);
  m.nonce = n.nonce;
  m.deadline = time_word(n.valid_before);
  m.witness_to = terms.pay_to;
  m.witness_valid_after = time_word(n.valid_after);
  const Hash32 domain = permit2_domain_separator(terms.chain_id, constant_address(kPermit2Address));
  ExactEvmSigned out;
  out.digest = eip712_digest(domain, struct_hash(m));
  out.payload = json{
      {"signature", to_hex(key.sign_digest(out.digest))},
      {"permit2Authorization",
       {{"from", evm_address_checksummed(key.address())},
        {"permitted", {{"token", evm_address_checksummed(m.token)}, {"amount", decimal(m.amount)}}},
        {"spender", evm_address_checksummed(m.spender)},
        {"nonce", decimal(m.nonce)},
        {"deadline", decimal(m.deadline)},
        {"witness",
         {{"to", evm_address_checksummed(m.witness_to)},
          {"validAfter", decimal(m.witness_valid_after)}}}}}};
  return out;
}

// --- reading a payload: every accessor answers nothing for a missing or mistyped field ---

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<EvmAddress> read_address(const json& object, const char* key) {
  const json* v = member(object, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return parse_evm_address(v->get_ref<const std::string&>());
}

// Decimal strings as the reference sends them; plain JSON integers are tolerated.
std::optional<Hash32> read_uint256(const json& object, const char* key) {
  const json* v = member(object, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) return uint256_from_decimal(v->get_ref<const std::string&>());
  if (v->is_number_unsigned()) return uint256_word(v->get<std::uint64_t>());
  return std::nullopt;
}

std::optional<Hash32> read_bytes32(const json& object, const char* key) {
  const json* v = member(object, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  const auto& text = v->get_ref<const std::string&>();
  if (text.size() != 66 || text.compare(0, 2, "0x") != 0) return std::nullopt;
  const auto bytes = from_hex(text);
  if (!bytes) return std::nullopt;
  Hash32 out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

// nothing: not a hex string at all (a malformed payload); a vector of another length than 65
// (e.g. a smart-wallet signature) is left to the caller to refuse as a bad signature.
std::optional<std::vector<std::uint8_t>> read_signature_bytes(const json& payload) {
  const json* v = member(payload, "signature");
  if (v == nullptr || !v->is_string()) return std::nullopt;
  const auto& text = v->get_ref<const std::string&>();
  if (text.compare(0, 2, "0x") != 0) return std::nullopt;
  return from_hex(text);
}

bool signed_by(const Hash32& digest, const std::vector<std::uint8_t>& sig_bytes,
               const EvmAddress& claimed) {
  if (sig_bytes.size() != 65) return false;
  Signature65 sig{};
  std::copy(sig_bytes.begin(), sig_bytes.end(), sig.begin());
  const auto signer = recover_signer(digest, sig);
  return signer && *signer == claimed;
}

ExactEvmCheck verify_eip3009(const json& payload, const ExactEvmTerms& terms, std::int64_t now) {
  const json* auth = member(payload, "authorization");
  const auto sig = read_signature_bytes(payload);
  if (auth == nullptr || !sig) return std::string(kBadPayload);
  TransferWithAuthorization m;
  const auto from = read_address(*auth, "from");
  const auto to = read_address(*auth, "to");
  const auto value = read_uint256(*auth, "value");
  const auto after = read_uint256(*auth, "validAfter");
  const auto before = read_uint256(*auth, "validBefore");
  const auto nonce = read_bytes32(*auth, "nonce");
  if (!from || !to || !value || !after || !before || !nonce) return std::string(kBadPayload);
  m.from = *from;
  m.to = *to;
  m.value = *value;
  m.valid_after = *after;
  m.valid_before = *before;
  m.nonce = *nonce;

  // Same order of checks as the reference facilitator, so both name the same first failure.
  const Hash32 domain =
      domain_separator({terms.domain_name, terms.domain_version, terms.chain_id, terms.asset});
  if (!signed_by(eip712_digest(domain, struct_hash(m)), *sig, m.from)) {
    return std::string("invalid_exact_evm_signature");
  }
  if (m.to != terms.pay_to) return std::string("invalid_exact_evm_recipient_mismatch");
  const std::int64_t valid_before = saturating_time(m.valid_before);
  const std::int64_t valid_after = saturating_time(m.valid_after);
  if (valid_before < now + kSettlementMarginSeconds) {
    return std::string("invalid_exact_evm_payload_authorization_valid_before");
  }
  if (valid_after > now) return std::string("invalid_exact_evm_payload_authorization_valid_after");
  if (m.value != uint256_word(terms.amount)) {
    return std::string("invalid_exact_evm_authorization_value");
  }
  return ExactEvmVerified{m.from, ExactEvmNonce{m.nonce, valid_after, valid_before}, terms.amount};
}

ExactEvmCheck verify_permit2(const json& payload, const ExactEvmTerms& terms, std::int64_t now) {
  const json* auth = member(payload, "permit2Authorization");
  const auto sig = read_signature_bytes(payload);
  if (auth == nullptr || !sig) return std::string(kBadPayload);
  const json* permitted = member(*auth, "permitted");
  const json* witness = member(*auth, "witness");
  if (permitted == nullptr || witness == nullptr) return std::string(kBadPayload);
  const auto from = read_address(*auth, "from");
  const auto token = read_address(*permitted, "token");
  const auto amount = read_uint256(*permitted, "amount");
  const auto spender = read_address(*auth, "spender");
  const auto nonce = read_uint256(*auth, "nonce");
  const auto deadline = read_uint256(*auth, "deadline");
  const auto to = read_address(*witness, "to");
  const auto after = read_uint256(*witness, "validAfter");
  if (!from || !token || !amount || !spender || !nonce || !deadline || !to || !after) {
    return std::string(kBadPayload);
  }
  PermitWitnessTransferFrom m{*token, *amount, *spender, *nonce, *deadline, *to, *after};

  // The reference facilitator's order and reason strings for Permit2.
  if (m.spender != constant_address(kX402Permit2Spender)) {
    return std::string("invalid_permit2_spender");
  }
  if (m.witness_to != terms.pay_to) return std::string("invalid_permit2_recipient_mismatch");
  const std::int64_t valid_before = saturating_time(m.deadline);
  const std::int64_t valid_after = saturating_time(m.witness_valid_after);
  if (valid_before < now + kSettlementMarginSeconds) return std::string("permit2_deadline_expired");
  if (valid_after > now) return std::string("permit2_not_yet_valid");
  if (m.amount != uint256_word(terms.amount)) return std::string("permit2_amount_mismatch");
  if (m.token != terms.asset) return std::string("permit2_token_mismatch");
  const Hash32 domain = permit2_domain_separator(terms.chain_id, constant_address(kPermit2Address));
  if (!signed_by(eip712_digest(domain, struct_hash(m)), *sig, *from)) {
    return std::string("invalid_permit2_signature");
  }
  return ExactEvmVerified{*from, ExactEvmNonce{m.nonce, valid_after, valid_before}, terms.amount};
}

std::string_view method_name(EvmTransferMethod method) {
  return method == EvmTransferMethod::permit2 ? "permit2" : "eip3009";
}

std::optional<std::int64_t> parse_i64(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string encode_credential_ref(EvmTransferMethod method, const ExactEvmNonce& n) {
  return std::string(method_name(method)) + ":" + to_hex(n.nonce) + ":" +
         std::to_string(n.valid_after) + ":" + std::to_string(n.valid_before);
}

std::optional<std::pair<EvmTransferMethod, ExactEvmNonce>> decode_credential_ref(
    std::string_view ref) {
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    const auto colon = ref.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    parts[i] = ref.substr(0, colon);
    ref.remove_prefix(colon + 1);
  }
  parts[3] = ref;

  EvmTransferMethod method{};
  if (parts[0] == "eip3009") {
    method = EvmTransferMethod::eip3009;
  } else if (parts[0] == "permit2") {
    method = EvmTransferMethod::permit2;
  } else {
    return std::nullopt;
  }
  if (parts[1].size() != 66 || parts[1].substr(0, 2) != "0x") return std::nullopt;
  const auto nonce_bytes = from_hex(parts[1]);
  const auto after = parse_i64(parts[2]);
  const auto before = parse_i64(parts[3]);
  if (!nonce_bytes || !after || !before) return std::nullopt;
  ExactEvmNonce n;
  std::copy(nonce_bytes->begin(), nonce_bytes->end(), n.nonce.begin());
  n.valid_after = *after;
  n.valid_before = *before;
  return std::make_pair(method, n);
}

ExactEvmSigned sign_exact_evm(const ExactEvmTerms& terms, const ExactEvmNonce& nonce,
                              const EvmKey& key) {
  return terms.method == EvmTransferMethod::permit2 ? sign_permit2(terms, nonce, key)
                                                    : sign_eip3009(terms, nonce, key);
}

ExactEvmCheck verify_exact_evm(const nlohmann::json& payload, const ExactEvmTerms& terms,
                               std::int64_t now) {
  // The payload must be of the kind the merchant asked for: a Permit2 payment against an
  // EIP-3009 offer (or the reverse) names other contracts than the ones the merchant settles on.
  if (terms.method == EvmTransferMethod::permit2) {
    if (member(payload, "permit2Authorization") == nullptr) return std::string(kBadPayload);
    return verify_permit2(payload, terms, now);
  }
  if (member(payload, "authorization") == nullptr) return std::string(kBadPayload);
  return verify_eip3009(payload, terms, now);
}

}  // namespace flow::payment

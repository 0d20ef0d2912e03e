#include "flow/payment/x402_challenge.hpp"

#include "flow/payment/ascii.hpp"

#include <array>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "flow/payment/base64.hpp"
#include "flow/payment/exact_evm.hpp"
#include "flow/payment/x402_network.hpp"
#include "x402_json.hpp"

// How `raw` is echoed and why nlohmann::json (sorted keys) is good enough: the reference
// TypeScript server matches PAYMENT-SIGNATURE's `accepted` against its own requirements with
// deepEqual (typescript/packages/core/src/utils, used by x402ResourceServer's
// findMatchingRequirements), which sorts object keys recursively before comparing the
// serializations; the Go and Python servers compare scheme, network, amount, asset and payTo
// field by field. Key order is therefore never significant, only keys, value types and values,
// which nlohmann::json keeps as parsed.

namespace flow::payment {
namespace {

using nlohmann::json;

constexpr std::string_view kPaymentRequired = "payment-required";
constexpr std::string_view kWwwAuthenticate = "www-authenticate";

// "0x" + 40 hex digits, any case. Checksums are not checked here: the signer re-parses.
bool is_evm_address(std::string_view text) {
  if (text.size() != 42 || text[0] != '0' || text[1] != 'x') return false;
  for (char c : text.substr(2))
    if (!is_hex_digit(c)) return false;
  return true;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

// The string at `key`, or nothing when absent or of another JSON type.
const std::string* string_at(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

std::string string_or_empty(const json& object, const char* key) {
  const auto* s = string_at(object, key);
  return s ? *s : std::string();
}

ChallengeParse failure(ChallengeError error, std::string detail) {
  return ChallengeParse{error, std::move(detail), std::nullopt};
}

// Which field names an offer uses: x402 v2, x402 v1, or h402 (v1 with its own aliases).
enum class Shape { v2, v1, h402 };

// h402 names the network by namespace + networkId ("evm", "8453") instead of CAIP-2.
std::string network_of(const json& item, Shape shape) {
  if (const auto* network = string_at(item, "network")) return *network;
  if (shape != Shape::h402) return {};
  const auto* ns = string_at(item, "namespace");
  const auto* id = string_at(item, "networkId");
  if (!ns || !id) return {};
  return (*ns == "evm" ? std::string("eip155") : *ns) + ":" + *id;
}

const json* first_present(const json& item, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    const auto it = item.find(key);
    if (it != item.end()) return &*it;
  }
  return nullptr;
}

// v2 says `amount`, v1 `maxAmountRequired`; h402 also `amountRequired`.
const json* amount_field(const json& item, Shape shape) {
  switch (shape) {
    case Shape::v2:
      return first_present(item, {"amount"});
    case Shape::v1:
      return first_present(item, {"maxAmountRequired"});
    case Shape::h402:
      return first_present(item, {"maxAmountRequired", "amountRequired"});
  }
  return nullptr;
}

// Merchants must send amounts as decimal strings; a JSON number may already have lost precision
// on their side (or ours), so it is kept visible but never paid.
AmountError read_amount(const json* value, Atomic& amount) {
  if (value == nullptr) return AmountError::empty;
  if (!value->is_string()) return AmountError::not_a_number;
  const auto parsed = parse_atomic(value->get_ref<const std::string&>());
  amount = parsed.value;
  return parsed.error;
}

std::int64_t read_timeout(const json& item) {
  const auto it = item.find("maxTimeoutSeconds");
  if (it == item.end()) return 0;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    return static_cast<std::int64_t>(v > kMax ? kMax : v);
  }
  return 0;  // negative, fractional or not a number: as if not stated
}

void read_extra(const json& item, X402Requirement& req, bool& unknown_method) {
  const auto it = item.find("extra");
  if (it == item.end() || !it->is_object()) return;
  req.domain_name = string_or_empty(*it, "name");
  req.domain_version = string_or_empty(*it, "version");
  const auto method = it->find("assetTransferMethod");
  if (method == it->end()) return;
  const auto* name = method->is_string() ? method->get_ptr<const std::string*>() : nullptr;
  req.permit2 = name && *name == "permit2";
  // Anything but the two known methods would be signed as the wrong message.
  unknown_method = !name || (*name != "permit2" && *name != "eip3009");
}

bool is_zero_address(std::string_view lower_hex) {
  return lower_hex == "0x0000000000000000000000000000000000000000";
}

// After the checks above the addresses are lower-case 0x + 40 hex, so equal text is equal.
OfferProblem classify_terms(const X402Requirement& req) {
  if (req.offer.amount == 0) return OfferProblem::zero_amount;
  if (is_zero_address(req.offer.pay_to)) return OfferProblem::pay_to_zero_address;
  if (req.offer.pay_to == req.offer.asset) return OfferProblem::pay_to_is_asset;
  if (req.offer.pay_to == to_lower(kPermit2Address) ||
      req.offer.pay_to == to_lower(kX402Permit2Spender)) {
    return OfferProblem::pay_to_is_permit2;
  }
  return OfferProblem::none;
}

OfferProblem classify(const X402Requirement& req, bool network_known, bool unknown_method) {
  if (!network_known) return OfferProblem::unknown_network;
  if (req.offer.scheme != "exact" || !req.chain_id || unknown_method)
    return OfferProblem::unsupported_scheme;
  if (req.amount_error != AmountError::none) return OfferProblem::bad_amount;
  if (!is_evm_address(req.offer.asset) || !is_evm_address(req.offer.pay_to))
    return OfferProblem::bad_address;
  if (!req.permit2 && (req.domain_name.empty() || req.domain_version.empty()))
    return OfferProblem::missing_domain;
  return classify_terms(req);
}

X402Requirement read_requirement(const json& item, std::size_t index, int version, Shape shape,
                                 const std::string& resource_url) {
  X402Requirement req;
  req.raw = item;
  Offer& offer = req.offer;
  offer.protocol = "x402";
  offer.protocol_version = version;
  offer.index = static_cast<int>(index);
  offer.scheme = string_or_empty(item, "scheme");

  req.network_as_sent = network_of(item, shape);
  const auto network = normalize_x402_network(req.network_as_sent);
  offer.network = network ? network->caip2 : req.network_as_sent;
  if (network) req.chain_id = network->evm_chain_id;

  req.amount_error = read_amount(amount_field(item, shape), offer.amount);

  const json* asset = shape == Shape::h402 ? first_present(item, {"asset", "tokenAddress"})
                                           : first_present(item, {"asset"});
  const json* pay_to = shape == Shape::h402 ? first_present(item, {"payTo", "payToAddress"})
                                            : first_present(item, {"payTo"});
  if (asset && asset->is_string()) offer.asset = asset->get<std::string>();
  if (pay_to && pay_to->is_string()) offer.pay_to = pay_to->get<std::string>();
  if (req.chain_id) {
    // Lower-case hex is the one form policy, the ledger and receipts compare.
    if (is_evm_address(offer.asset)) offer.asset = to_lower(offer.asset);
    if (is_evm_address(offer.pay_to)) offer.pay_to = to_lower(offer.pay_to);
  }

  // v1 names the resource per offer; v2 once for the whole challenge.
  const auto* own_resource = shape == Shape::v2 ? nullptr : string_at(item, "resource");
  offer.resource = own_resource && !own_resource->empty() ? *own_resource : resource_url;
  req.max_timeout_seconds = read_timeout(item);

  bool unknown_method = false;
  read_extra(item, req, unknown_method);
  req.problem = classify(req, network.has_value(), unknown_method);
  return req;
}

// Reads x402Version (or h402Version): 1 or 2, else the error to report.
ChallengeError read_version(const json& doc, int& version, Shape& shape) {
  auto it = doc.find("x402Version");
  bool h402 = false;
  if (it == doc.end()) {
    it = doc.find("h402Version");
    h402 = true;
  }
  if (it == doc.end() || !it->is_number()) return ChallengeError::missing_field;
  if (!it->is_number_unsigned()) return ChallengeError::unsupported_version;
  const auto v = it->get<std::uint64_t>();
  if (v == 2 && !h402) {
    version = 2;
    shape = Shape::v2;
  } else if (v == 1) {
    version = 1;
    shape = h402 ? Shape::h402 : Shape::v1;
  } else {
    return ChallengeError::unsupported_version;
  }
  return ChallengeError::none;
}

// A decoded PaymentRequired (either version) into a challenge. `where` names the source in
// details ("PAYMENT-REQUIRED", "body", "WWW-Authenticate").
ChallengeParse read_payment_required(const json& doc, ChallengeSource source,
                                     std::string_view where, std::string_view request_url) {
  const std::string at(where);
  int version = 0;
  Shape shape = Shape::v1;
  if (const auto e = read_version(doc, version, shape); e != ChallengeError::none)
    return failure(e, at + ": x402Version must be 1 or 2");

  const auto accepts = doc.find("accepts");
  if (accepts == doc.end() || !accepts->is_array())
    return failure(ChallengeError::missing_field, at + ": accepts is not an array");
  if (accepts->empty()) return failure(ChallengeError::no_offers, at + ": accepts is empty");
  if (accepts->size() > kMaxOffers)
    return failure(ChallengeError::too_large,
                   at + ": more than " + std::to_string(kMaxOffers) + " offers");

  X402Challenge challenge;
  challenge.version = version;
  challenge.source = (source == ChallengeSource::json_body && shape == Shape::h402)
                         ? ChallengeSource::h402_body
                         : source;
  challenge.error = string_or_empty(doc, "error");
  if (const auto it = doc.find("resource"); it != doc.end()) challenge.resource = *it;
  if (const auto it = doc.find("extensions"); it != doc.end()) challenge.extensions = *it;

  std::string resource_url(request_url);
  if (challenge.resource.is_object()) {
    if (const auto* url = string_at(challenge.resource, "url"); url && !url->empty())
      resource_url = *url;
  } else if (challenge.resource.is_string() &&
             !challenge.resource.get_ref<const std::string&>().empty()) {
    resource_url = challenge.resource.get<std::string>();
  }

  challenge.accepts.reserve(accepts->size());
  for (std::size_t i = 0; i < accepts->size(); ++i) {
    const auto& item = (*accepts)[i];
    if (!item.is_object())
      return failure(ChallengeError::missing_field,
                     at + ": accepts[" + std::to_string(i) + "] is not an object");
    challenge.accepts.push_back(read_requirement(item, i, version, shape, resource_url));
  }
  return ChallengeParse{ChallengeError::none, {}, std::move(challenge)};
}

// Standard base64 of a JSON object, then read as a challenge.
ChallengeParse read_encoded(std::string_view text, ChallengeSource source, std::string_view where,
                            std::string_view request_url) {
  const std::string at(where);
  const auto decoded = base64_decode(text);
  if (!decoded) return failure(ChallengeError::bad_base64, at + ": not standard base64");
  const auto doc = detail::parse_json_object(*decoded);
  if (!doc) return failure(ChallengeError::bad_json, at + ": not a JSON object");
  return read_payment_required(*doc, source, where, request_url);
}

// --- WWW-Authenticate (RFC 9110 §11.6.1): several challenges per line, each either a token68
// or a comma-separated list of auth-params.

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

struct AuthChallenge {
  std::string scheme;
  std::string token68;  // or a bare JSON object ("x402 {...}"), seen in the wild
  std::vector<std::pair<std::string, std::string>> params;
};

class AuthHeaderReader {
 public:
  explicit AuthHeaderReader(std::string_view text) : text_(text) {}

  std::vector<AuthChallenge> read() {
    std::vector<AuthChallenge> out;
    while (out.size() < kMaxChallenges) {
      skip_separators();
      if (pos_ >= text_.size()) break;
      const auto scheme = take_while(is_tchar);
      if (scheme.empty()) {
        skip_element();  // garbage: drop up to the next comma and carry on
        continue;
      }
      AuthChallenge challenge;
      challenge.scheme = std::string(scheme);
      if (pos_ < text_.size() && is_ows(text_[pos_])) {
        skip_ows();
        read_credentials(challenge);
      }
      out.push_back(std::move(challenge));
    }
    return out;
  }

 private:
  static constexpr std::size_t kMaxChallenges = 16;
  static constexpr std::size_t kMaxParams = 32;

  void read_credentials(AuthChallenge& challenge) {
    if (pos_ < text_.size() && text_[pos_] == '{') {
      read_json(challenge);
      return;
    }
    if (read_param(challenge)) {
      // Further params follow after commas, until an element that is not `name=value`:
      // that is the next challenge's scheme.
      while (challenge.params.size() < kMaxParams) {
        const auto save = pos_;
        skip_separators();
        if (pos_ >= text_.size() || !read_param(challenge)) {
          pos_ = save;
          break;
        }
      }
      return;
    }
    const auto start = pos_;
    take_while(is_token68_char);
    while (pos_ < text_.size() && text_[pos_] == '=') ++pos_;
    const auto token = text_.substr(start, pos_ - start);
    skip_ows();
    if (!token.empty() && at_element_end()) {
      challenge.token68 = std::string(token);
    } else {
      skip_element();
    }
  }

  // `name BWS = BWS (token / quoted-string)`, ending at a comma or the end; restores the
  // position when the text is not a parameter.
  bool read_param(AuthChallenge& challenge) {
    const auto start = pos_;
    const auto name = take_while(is_tchar);
    skip_ows();
    if (name.empty() || pos_ >= text_.size() || text_[pos_] != '=') {
      pos_ = start;
      return false;
    }
    ++pos_;
    skip_ows();
    std::string value;
    if (!read_value(value)) {
      pos_ = start;
      return false;
    }
    skip_ows();
    if (!at_element_end()) {
      pos_ = start;
      return false;
    }
    challenge.params.emplace_back(std::string(name), std::move(value));
    return true;
  }

  // A quoted-string, or a token that may also hold base64 ('/' and trailing '='), which some
  // servers send unquoted.
  bool read_value(std::string& value) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      while (pos_ < text_.size()) {
        char c = text_[pos_++];
        if (c == '"') return true;
        if (c == '\\') {
          if (pos_ >= text_.size()) return false;
          c = text_[pos_++];
        }
        value.push_back(c);
      }
      return false;  // unterminated
    }
    const auto start = pos_;
    while (pos_ < text_.size() && (is_tchar(text_[pos_]) || text_[pos_] == '/')) ++pos_;
    if (pos_ == start) return false;
    while (pos_ < text_.size() && text_[pos_] == '=') ++pos_;
    value = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  // A bare JSON object: everything up to its matching brace (strings may hold commas).
  void read_json(AuthChallenge& challenge) {
    const auto start = pos_;
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (in_string) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        ++pos_;
        challenge.token68 = std::string(text_.substr(start, pos_ - start));
        return;
      }
    }
    challenge.token68 = std::string(text_.substr(start));  // unbalanced: the parser refuses it
  }

  bool at_element_end() const { return pos_ >= text_.size() || text_[pos_] == ','; }

  void skip_ows() {
    while (pos_ < text_.size() && is_ows(text_[pos_])) ++pos_;
  }

  void skip_separators() {
    while (pos_ < text_.size() && (is_ows(text_[pos_]) || text_[pos_] == ',')) ++pos_;
  }

  void skip_element() {
    while (pos_ < text_.size() && text_[pos_] != ',') ++pos_;
  }

  template <typename Pred>
  std::string_view take_while(Pred pred) {
    const auto start = pos_;
    while (pos_ < text_.size() && pred(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// The challenge data an `x402` challenge carries: a token68, or one of the parameters real
// servers use for it. Empty when the challenge is only a hint ("WWW-Authenticate: x402",
// "x402 realm=..."), which points at PAYMENT-REQUIRED or the body instead.
std::string x402_data(const AuthChallenge& challenge) {
  if (!challenge.token68.empty()) return challenge.token68;
  for (const char* name : {"challenge", "data", "payment_required", "payment-required"}) {
    for (const auto& [key, value] : challenge.params)
      if (iequals(key, name) && !value.empty()) return value;
  }
  return {};
}

std::optional<ChallengeParse> read_www_authenticate(std::span<const HeaderField> headers,
                                                    std::string_view request_url) {
  constexpr std::string_view kWhere = "WWW-Authenticate";
  std::optional<ChallengeParse> first_error;
  for (const auto& header : headers) {
    if (!iequals(header.name, kWwwAuthenticate)) continue;
    for (const auto& challenge : AuthHeaderReader(header.value).read()) {
      if (!iequals(challenge.scheme, "x402")) continue;
      const auto data = x402_data(challenge);
      if (data.empty()) continue;
      ChallengeParse parsed;
      if (data.front() == '{') {
        const auto doc = detail::parse_json_object(data);
        parsed = doc ? read_payment_required(*doc, ChallengeSource::www_authenticate, kWhere,
                                             request_url)
                     : failure(ChallengeError::bad_json, "WWW-Authenticate: not a JSON object");
      } else {
        parsed = read_encoded(data, ChallengeSource::www_authenticate, kWhere, request_url);
      }
      if (parsed.challenge) return parsed;
      if (!first_error) first_error = std::move(parsed);
    }
  }
  return first_error;
}

// A JSON body that declares x402Version or h402Version; nothing for any other body (HTML
// paywalls, `{}` next to a v2 header, plain errors).
std::optional<ChallengeParse> read_body(std::string_view body, std::string_view request_url) {
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '{') return std::nullopt;
  const auto doc = detail::parse_json_object(body);
  if (!doc || (!doc->contains("x402Version") && !doc->contains("h402Version"))) return std::nullopt;
  return read_payment_required(*doc, ChallengeSource::json_body, "body", request_url);
}

std::optional<ChallengeParse> read_header(std::span<const HeaderField> headers,
                                          std::string_view request_url) {
  for (const auto& header : headers) {
    // Only the first PAYMENT-REQUIRED counts: a merchant sends one.
    if (iequals(header.name, kPaymentRequired))
      return read_encoded(trim_ows(header.value), ChallengeSource::payment_required_header,
                          "PAYMENT-REQUIRED", request_url);
  }
  return std::nullopt;
}

}  // namespace

namespace {

// ChallengeError and OfferProblem in enum order, after `none`.
constexpr std::array kChallengeReasons = {
    Reason::not_x402,      Reason::bad_base64, Reason::bad_json, Reason::unsupported_version,
    Reason::missing_field, Reason::no_offers,  Reason::too_large};
static_assert(kChallengeReasons.size() == static_cast<std::size_t>(ChallengeError::too_large));
constexpr std::array kOfferReasons = {
    Reason::bad_amount,          Reason::unknown_network, Reason::unsupported_scheme,
    Reason::bad_address,         Reason::missing_domain,  Reason::zero_amount,
    Reason::pay_to_zero_address, Reason::pay_to_is_asset, Reason::pay_to_is_permit2};
static_assert(kOfferReasons.size() == static_cast<std::size_t>(OfferProblem::pay_to_is_permit2));

template <class Problem, std::size_t N>
std::optional<Reason> reason_in(const std::array<Reason, N>& reasons, Problem problem) {
  const auto i = static_cast<std::size_t>(problem);
  if (i == 0 || i > N) return std::nullopt;
  return reasons[i - 1];
}

}  // namespace

std::optional<Reason> reason_of(ChallengeError error) {
  return reason_in(kChallengeReasons, error);
}

std::optional<Reason> reason_of(OfferProblem problem) {
  return reason_in(kOfferReasons, problem);
}

std::string_view challenge_error_name(ChallengeError error) {
  const auto reason = reason_of(error);
  return reason ? reason_name(*reason) : "none";
}

std::string_view offer_problem_name(OfferProblem problem) {
  const auto reason = reason_of(problem);
  return reason ? reason_name(*reason) : "none";
}

// Sources in the reference client's order. The first that reads cleanly wins; when none does,
// the error of the first one present is reported, so a garbled PAYMENT-REQUIRED next to a
// readable v1 body (or a "PAYMENT-REQUIRED: x402" hint) still leaves the merchant payable.
ChallengeParse parse_x402_challenge(std::span<const HeaderField> headers, std::string_view body,
                                    std::string_view request_url) {
  std::optional<ChallengeParse> reported;
  // True when `parsed` is a challenge; otherwise keeps the first error seen.
  const auto accept = [&reported](std::optional<ChallengeParse>& parsed) {
    if (!parsed) return false;
    if (parsed->challenge) return true;
    if (!reported) reported = std::move(parsed);
    return false;
  };
  if (auto parsed = read_header(headers, request_url); accept(parsed)) return std::move(*parsed);
  if (auto parsed = read_body(body, request_url); accept(parsed)) return std::move(*parsed);
  if (auto parsed = read_www_authenticate(headers, request_url); accept(parsed))
    return std::move(*parsed);
  if (reported) return std::move(*reported);
  return failure(ChallengeError::not_x402,
                 "no PAYMENT-REQUIRED, x402 JSON body or WWW-Authenticate: x402 challenge");
}

bool advertises_payment_identifier(const X402Challenge& challenge) {
  if (challenge.version != 2 || !challenge.extensions.is_object()) return false;
  const auto it = challenge.extensions.find("payment-identifier");
  return it != challenge.extensions.end() && it->is_object();
}

}  // namespace flow::payment

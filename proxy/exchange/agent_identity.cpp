#include "flow/proxy/exchange/agent_identity.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "flow/payment/base64.hpp"
#include "flow/payment/hex.hpp"

namespace flow::proxy {
namespace {

AgentIdentification refuse(std::string problem) {
  return {false, {}, std::move(problem)};
}

}  // namespace

AgentIdentification identify_agent(const policy::ProxySettings& settings,
                                   const policy::PolicySnapshot& policy,
                                   const HeaderList& request_headers) {
  if (settings.identity == policy::AgentIdentity::sidecar) return {true, settings.agent, {}};
  const Header* auth = find_header(request_headers, "proxy-authorization");
  if (auth == nullptr) {
    return refuse("this proxy needs Proxy-Authorization: Basic with an agent id and token");
  }
  std::string_view value = auth->value;
  constexpr std::string_view kBasic = "basic ";
  if (value.size() <= kBasic.size() || !iequals(value.substr(0, kBasic.size()), kBasic)) {
    return refuse("Proxy-Authorization must use the Basic scheme (agent id and token)");
  }
  value.remove_prefix(kBasic.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  auto decoded = payment::base64_decode(value);
  if (!decoded) return refuse("Proxy-Authorization: Basic credentials are not valid base64");
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0) {
    OPENSSL_cleanse(decoded->data(), decoded->size());
    return refuse("Proxy-Authorization: Basic credentials must be agent-id:token");
  }
  std::string agent = decoded->substr(0, colon);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(decoded->data() + colon + 1),
         decoded->size() - colon - 1, digest);
  OPENSSL_cleanse(decoded->data(), decoded->size());
  const std::string hash = payment::to_hex(digest, false);
  if (policy.authenticate(agent, hash) == nullptr) {
    return refuse("unknown agent or wrong token");
  }
  return {true, std::move(agent), {}};
}

}  // namespace flow::proxy

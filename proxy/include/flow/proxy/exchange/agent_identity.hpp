#pragma once
#include <string>

#include "flow/policy/flow_config.hpp"
#include "flow/policy/policy_snapshot.hpp"
#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

struct AgentIdentification {
  bool ok = false;
  std::string agent;    // the agent the request speaks for
  std::string problem;  // when !ok: what is missing or wrong (never the token)
};

// Sidecar mode: the proxy's one agent (proxy.agent, or FLOW402_AGENT). Shared mode:
// `Proxy-Authorization: Basic base64(agent:token)`, checked against the agent's token hashes in
// the policy in force.
AgentIdentification identify_agent(const policy::ProxySettings& settings,
                                   const policy::PolicySnapshot& policy,
                                   const HeaderList& request_headers);

}  // namespace flow::proxy

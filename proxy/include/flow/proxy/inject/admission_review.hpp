// The AdmissionReview (admission.k8s.io/v1) around the pod patch: the request body the API
// server POSTs to /mutate in, the response body out. Pure: no I/O, never throws.
#pragma once
#include <string>
#include <string_view>

#include "flow/proxy/inject/pod_patch.hpp"

namespace flow::proxy::inject {

// What a review the injector cannot read gets: allowed with a warning (the pod is created
// without the sidecar), or refused (the pod is not created). Kubernetes' own failurePolicy
// applies when the webhook cannot be reached; this applies when it can but cannot read.
enum class FailureMode { allow, deny };

struct ReviewOutcome {
  std::string body;      // the AdmissionReview response, JSON
  std::string decision;  // "injected", "skipped", "malformed": for the log line
  std::string detail;    // the skip reason or the malformation; empty when injected
  std::string uid, namespace_name, pod_name;
};

ReviewOutcome answer_review(std::string_view request_body, const InjectOptions& options,
                            FailureMode failure_mode);

}  // namespace flow::proxy::inject

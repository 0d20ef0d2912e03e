// answer_review: parse the AdmissionReview, hand its pod to build_pod_patch, and wrap the patch
// (base64) in the response. What cannot be read is answered by the failure mode, with the
// reason in the warning or the status message.
#include "flow/proxy/inject/admission_review.hpp"

#include <openssl/evp.h>

#include <string>

namespace flow::proxy::inject {
namespace {

using nlohmann::json;

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string string_member(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json review_envelope(const std::string& uid) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"response", {{"uid", uid}, {"allowed", true}}}};
}

void add_warnings(json& response, const std::vector<std::string>& warnings) {
  if (warnings.empty()) return;
  json& list = response["warnings"];
  for (const auto& w : warnings) list.push_back("402flow: " + w);
}

// A review that cannot be read: allowed with a warning, or refused, by the failure mode.
void answer_malformed(ReviewOutcome& out, const std::string& why, FailureMode mode) {
  json review = review_envelope(out.uid);
  json& response = review["response"];
  out.decision = "malformed";
  out.detail = why;
  if (mode == FailureMode::deny) {
    response["allowed"] = false;
    response["status"] = {{"code", 400}, {"message", "402flow injector: " + why}};
  } else {
    add_warnings(response, {why + "; the pod is admitted without the 402flow sidecar"});
  }
  out.body = review.dump();
}

// Why `review` is not a pod-creation review we can read; empty when it is.
std::string malformed_reason(const json& review) {
  if (!review.is_object()) return "the body is not a JSON object";
  if (string_member(review, "apiVersion") != "admission.k8s.io/v1" ||
      string_member(review, "kind") != "AdmissionReview") {
    return "not an admission.k8s.io/v1 AdmissionReview";
  }
  const auto request = review.find("request");
  if (request == review.end() || !request->is_object()) return "the review has no request";
  if (string_member(*request, "uid").empty()) return "the request has no uid";
  return {};
}

bool is_pod_creation(const json& request) {
  const auto kind = request.find("kind");
  const bool pod = kind != request.end() && string_member(*kind, "kind") == "Pod" &&
                   string_member(*kind, "group").empty();
  return pod && string_member(request, "operation") == "CREATE";
}

}  // namespace

ReviewOutcome answer_review(std::string_view request_body, const InjectOptions& options,
                            FailureMode failure_mode) {
  ReviewOutcome out;
  const json review = json::parse(request_body, nullptr, false);
  if (review.is_discarded()) {
    answer_malformed(out, "the body is not JSON", failure_mode);
    return out;
  }
  if (review.is_object() && review.contains("request")) {
    out.uid = string_member(review["request"], "uid");
    out.namespace_name = string_member(review["request"], "namespace");
  }
  if (const std::string why = malformed_reason(review); !why.empty()) {
    answer_malformed(out, why, failure_mode);
    return out;
  }
  const json& request = review["request"];
  json answer = review_envelope(out.uid);
  if (!is_pod_creation(request)) {
    out.decision = "skipped";
    out.detail = "not a pod creation";
    out.body = answer.dump();
    return out;
  }
  const json* pod = request.contains("object") ? &request["object"] : nullptr;
  if (pod && pod->contains("metadata")) {
    out.pod_name = string_member((*pod)["metadata"], "name");
    if (out.pod_name.empty()) out.pod_name = string_member((*pod)["metadata"], "generateName");
  }
  const PodPatch result = build_pod_patch(pod ? *pod : json(), options);
  if (result.skipped.starts_with("not a pod")) {
    answer_malformed(out, "the request's object is " + result.skipped, failure_mode);
    return out;
  }
  json& response = answer["response"];
  add_warnings(response, result.warnings);
  if (result.injected) {
    response["patchType"] = "JSONPatch";
    response["patch"] = base64(result.patch.dump());
    out.decision = "injected";
  } else {
    out.decision = "skipped";
    out.detail = result.skipped;
  }
  out.body = answer.dump();
  return out;
}

}  // namespace flow::proxy::inject

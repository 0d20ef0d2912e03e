#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flow/payment/offer.hpp"
#include "flow/storage/request_subject.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::storage {

// pending -> approved | denied | expired; approved -> used (by one payment attempt, once).
// denied, expired and used are final. (Names are stored: only ever append.)
enum class ApprovalState { pending, approved, denied, expired, used };
std::string_view approval_state_name(ApprovalState state);
std::optional<ApprovalState> approval_state_from_name(std::string_view name);

// A review decision's question to a person: may this request pay this offer?
struct ApprovalRequest : RequestSubject {
  std::string decision_id;
  std::string rule;
  payment::Offer offer;
  unsigned decimals = 0;
  std::int64_t expires_at_ms = 0;
};

struct Approval {
  std::string id;  // "apr_..."
  ApprovalRequest request;
  ApprovalState state = ApprovalState::pending;
  std::int64_t created_at_ms = 0;
  std::int64_t resolved_at_ms = 0;
  std::string resolved_by;
  std::string note;
  std::int64_t attempt_id = 0;  // used: the payment attempt that used it
  std::int64_t used_at_ms = 0;
};

// What a request asks an approval to cover: this agent's request (origin, method, URL) paying
// at most `offer.amount` on the offer's terms (protocol, scheme, network, asset, payTo).
struct ApprovalBinding : RequestSubject {
  payment::Offer offer;
};

// Whether `approval` was given for `binding`: the same agent, origin, method and URL (the
// binding's URL redacted with `url_query`, as the ledger stored the approval's), the same terms,
// and the offer's amount at most the approved one. Says nothing about the approval's state.
bool approval_binds(const Approval& approval, const ApprovalBinding& binding,
                    UrlQueryMode url_query);

// Which approvals Ledger::approvals() lists, newest first.
struct ApprovalFilter {
  std::optional<ApprovalState> state;  // empty: every state
  std::size_t limit = 100;
  // A page's cursor: the id of the last approval of the previous page; the list continues
  // with the approvals opened before it. Empty: from the newest.
  std::string before;
};

}  // namespace flow::storage

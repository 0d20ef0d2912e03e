#pragma once
#include <string>

namespace flow::storage {

// The request a 402 answered, as every ledger record about it names it: the decision, the
// approval it may open and the attempt that pays. Records derive from it (rather than hold it
// as a member) so that `record.agent`, `record.url`, ... read the same in every record.
struct RequestSubject {
  std::string agent;
  std::string merchant_origin;  // "https://api.example.com" (scheme, host, port if not default)
  std::string method;
  std::string url;  // the ledger redacts the query per LedgerOptions::url_query

  RequestSubject& subject() { return *this; }
  const RequestSubject& subject() const { return *this; }
};

}  // namespace flow::storage

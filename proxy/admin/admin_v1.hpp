// Internal to the admin API: the /v1/ endpoints (docs/admin.md "Endpoints under /v1/"). Reads
// and writes run as jobs on the ledger's writer thread; the answer is deferred until the job's
// completion is back on the loop, so the loop never waits on SQLite.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "admin_json.hpp"
#include "flow/proxy/admin/admin_server.hpp"
#include "flow/proxy/http/http_server.hpp"
#include "flow/proxy/paid/payment_services.hpp"

namespace flow::proxy {

// Who asks (the bearer token's name) and what the admin API reads.
struct AdminCall {
  AdminSources& sources;
  std::string actor;
};

// Answers a request whose path starts with /v1/.
void serve_v1(const AdminCall& call, const ServedRequest& request, ServedAnswer& answer);

// --- the operator's actions (admin_actions.cpp) ---
void decide_approval(const AdminCall& call, const std::string& id, bool approve,
                     std::string_view body, ServedAnswer& answer);
void reconcile_attempt(const AdminCall& call, std::string_view id, std::string_view body,
                       ServedAnswer& answer);
void reload_policy(const AdminCall& call, ServedAnswer& answer);

// --- shared by both ---
void answer_json(ServedAnswer& answer, int status, const Json& body);
void answer_error(ServedAnswer& answer, int status, std::string_view message);
// {"error": ..., "code": ledger error name}, with the status ledger_error_status gives.
void answer_ledger_error(ServedAnswer& answer, const storage::LedgerError& error);
// The asset table of the policy in force (the built-ins when none is loaded), kept alive while
// the caller holds it (a reload may replace the policy at any moment).
std::shared_ptr<const policy::AssetTable> assets_of(const AdminSources& sources);
std::int64_t now_ms();

// Runs `work` on the ledger's writer; `reply` runs on the loop with its result and fills the
// deferred answer. A refused submission (queue full) is answered 503 at once.
template <class T>
void on_ledger(PaymentServices& payments, storage::Durability durability,
               const std::shared_ptr<Responder>& responder, storage::LedgerWriter::Work<T> work,
               std::function<void(storage::Result<T>&, ServedAnswer&)> reply) {
  auto done =
      payments.mailbox().on_loop<storage::Result<T>>(std::function<void(storage::Result<T>)>(
          [responder, reply = std::move(reply)](storage::Result<T> result) {
            ServedAnswer answer;
            reply(result, answer);
            responder->respond(answer);
          }));
  auto queued = payments.ledger().submit<T>(durability, std::move(work), std::move(done));
  if (!queued.ok()) {
    ServedAnswer answer;
    answer_ledger_error(answer, queued.error());
    responder->respond(answer);
  }
}

}  // namespace flow::proxy

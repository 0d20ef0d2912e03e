#pragma once
#include <uv.h>

#include <string_view>

#include "flow/payment/reason.hpp"
#include "flow/proxy/exchange/access_log.hpp"
#include "flow/proxy/http/http_message.hpp"

namespace flow::proxy {

// The named stages at which a forwarding exchange hands control to whoever governs it: the paid
// path today (PaidAttempt), and the same stages serve approvals, other rails and intercepted TLS.
// The exchange reads, forwards and streams; it knows nothing of payments. At each stage it asks
// its hooks, which act through the Exchange's public operations (answer, relay, replay, hold,
// park). One hooks object per exchange, made by the Server's hooks factory; none: plain
// forwarding.
//
//   request ─► on_request ─► forward ─► on_request_body* ─► on_request_end
//                                   └► on_request_sent (each time a head goes upstream)
//   response head ─► on_response_head: proceed │ take_over ─► on_taken_body* ─► on_taken_complete
//                                              │ hold ─► ... Exchange::release_held_head
//   origin failed before an answer ─► on_upstream_failure
//   always, once ─► on_end (logging)
class ExchangeHooks {
 public:
  virtual ~ExchangeHooks() = default;

  // The request head is parsed and its target valid; nothing is forwarded yet. False: the hooks
  // answered it (Exchange::answer), and the exchange has ended.
  virtual bool on_request() = 0;
  // The framed request body, in order, as it goes (or would go) upstream.
  virtual void on_request_body(const uv_buf_t* bufs, unsigned count) = 0;
  // True while request body bytes must stay away from the origin (it has already answered; the
  // bytes are kept for a replay only).
  virtual bool holds_request_body() const = 0;
  // The request body ended. True: the hooks take it from here.
  virtual bool on_request_end() = 0;
  // A request head (and the body pending with it) was written to the origin.
  virtual void on_request_sent() = 0;

  enum class HeadVerdict {
    proceed,    // relay the response as it comes
    take_over,  // the hooks read the body (on_taken_body, on_taken_complete) and answer themselves
    hold,       // the head and what follows wait until Exchange::release_held_head()
  };
  // The origin's final (non-1xx) response head.
  virtual HeadVerdict on_response_head(ResponseHead& head) = 0;
  // Body of a response the hooks took over. False: they hand it back (having relayed what they
  // read with Exchange::relay_head and relay_body); the rest is relayed as it comes.
  virtual bool on_taken_body(std::string_view data) = 0;
  // The response the hooks took over was read in full; its origin connection was given back.
  virtual void on_taken_complete() = 0;
  // The origin closed, failed or fell silent before a response head went to the client. True:
  // the hooks answered (or ended the exchange) themselves.
  virtual bool on_upstream_failure(payment::Reason error, std::string_view why) = 0;
  // The exchange ended, whatever ended it; runs exactly once, before the access record is
  // written. Pending work is cancelled here (its completions then clean up after themselves).
  virtual void on_end(AccessRecord& record) = 0;
  // Whether the client's EOF ends the exchange now. An EOF after a complete request is otherwise
  // taken as a half-close and the answer still goes out; a request waiting for a person (which
  // may take an hour) is instead given up: the agent that closed is gone.
  virtual bool ends_on_client_eof() const { return false; }
};

}  // namespace flow::proxy

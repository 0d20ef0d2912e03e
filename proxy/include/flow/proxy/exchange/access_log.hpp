#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "flow/payment/reason.hpp"
#include "flow/proxy/http/reason_field.hpp"
#include "flow/proxy/log_writer.hpp"

namespace flow::proxy {

// One line per exchange or tunnel, written by the stage that always runs last.
struct AccessRecord {
  std::string client;
  std::string method;
  std::string host;
  std::uint16_t port = 0;
  std::string path;        // without the query string: queries may carry secrets
  std::string scheme;      // an exchange's: "http", or "https" (decrypted or originated)
  bool in_tunnel = false;  // an exchange inside a CONNECT tunnel (intercepted, or plain HTTP)
  int status = 0;          // 0 when no answer went out
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  bool tunnel = false;
  bool transparent = false;  // reached through the transparent listener (the line's `mode`)
  bool upstream_reused = false;
  std::uint64_t duration_us = 0;
  std::uint64_t connect_us = 0;
  std::uint64_t ttfb_us = 0;
  // How the exchange or tunnel ended when it did not end cleanly (the line's `error`).
  std::optional<payment::Reason> error;
  ReasonField reason;            // of an answer the proxy wrote or annotated itself
  std::string agent;             // who asked (empty when unknown)
  std::string receipt;           // the receipt id of a payment made for this exchange
  std::string payment;           // the paid path's last stage ("answered", ...); empty: no 402
  std::uint64_t payment_us = 0;  // from the 402's head to the end of the exchange
};

void write_access_record(LogWriter& writer, const AccessRecord& record);

}  // namespace flow::proxy

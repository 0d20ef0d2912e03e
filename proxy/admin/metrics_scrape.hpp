// Internal to the admin API: serving /metrics. The proxy's counters are read on the loop; the
// ledger's tallies (admin_metrics_text) are read on the ledger's writer at most every
// kTalliesMaxAge, one read however many scrapes wait for it.
#pragma once
#include <chrono>
#include <memory>

#include "flow/proxy/admin/admin_server.hpp"
#include "flow/proxy/http/http_server.hpp"

namespace flow::proxy {

class MetricsScrape {
 public:
  static constexpr std::chrono::seconds kTalliesMaxAge{5};

  // `sources` must outlive this object.
  explicit MetricsScrape(const AdminSources& sources);
  ~MetricsScrape();
  MetricsScrape(const MetricsScrape&) = delete;
  MetricsScrape& operator=(const MetricsScrape&) = delete;

  // Answers at once when the tallies are fresh (or there is no ledger), else once they are.
  void serve(ServedAnswer& answer);

  struct Cache;  // shared with the read's completion

 private:
  void answer_now(ServedAnswer& answer) const;
  void read_tallies();
  void answer_waiting();

  const AdminSources& sources_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace flow::proxy

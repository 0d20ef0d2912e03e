#include "support/metrics_parser.hpp"

#include <chrono>
#include <stdexcept>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace flow::testing {

nlohmann::json parse_metrics(const std::string& text) {
  TempDir dir;
  const std::string file = dir.file("metrics.txt");
  write_text_file(file, text);
  const std::string script =
      "import json, sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "out = {}\n"
      "for family in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    for s in family.samples:\n"
      "        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))\n"
      "        out[s.name + ('{' + labels + '}' if labels else '')] = s.value\n"
      "print(json.dumps(out))\n";
  // Debian's interpreter: python3-prometheus-client installs for it, whatever else is on PATH.
  const std::string python = "/usr/bin/python3";
  const auto ran = run_command({python, "-c", script, file}, std::chrono::seconds(30));
  if (!ran.status.exited || ran.status.code != 0) {
    throw std::runtime_error("prometheus_client refused the metrics: " + ran.err);
  }
  return nlohmann::json::parse(ran.out);
}

}  // namespace flow::testing

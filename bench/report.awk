# Turns bench/run.sh's raw results (CSV: round,target,metric,value) into a markdown table (mode=md)
# or a JSON summary (mode=json). Aggregation over rounds: median, except *_errors (sum) and rss_* (max).
# Every figure is also given as a ratio to "direct" (for RSS, "direct" is the nginx origin, shown for scale).
#   awk -F, -v mode=md -v targets=direct,402flow,squid,tinyproxy -f bench/report.awk results/latest.csv
# Variables: mode, targets, pending ("target=why;..." : targets left out of the measurements), suite (http or
# https), tthreads (tunnel client threads), ka (kept-alive HTTPS connections); for md: date, machine, params;
# for json: meta, params (JSON members).

function isort(a, n,    i, j, x) {
  for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
}
function agg(t, m,    k, i, c, s, a) {
  k = t SUBSEP m
  c = cnt[k]
  if (c == 0) return ""
  if (m ~ /_errors$|_closes$/) { s = 0; for (i = 1; i <= c; i++) s += val[k, i]; return s }
  if (m ~ /^rss_|_busy_before_pct$|_foreign_pct$/) { s = val[k, 1]; for (i = 2; i <= c; i++) if (val[k, i] > s) s = val[k, i]; return s }
  for (i = 1; i <= c; i++) a[i] = val[k, i]
  isort(a, c)
  if (c % 2) return a[(c + 1) / 2]
  return (a[c / 2] + a[c / 2 + 1]) / 2
}
function has(t, m) { return cnt[t SUBSEP m] > 0 }
function commas(x,    s, neg, out) {   # 12345.6 -> "12,346"
  s = sprintf("%.0f", x); neg = ""
  if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
  out = ""
  while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
  return neg s out
}
function num(x, m) {
  if (m ~ /_rps$|_rate$/) return commas(x)
  if (m ~ /_errors$|_closes$/) return sprintf("%d", x)
  if (m ~ /_kib$/) return sprintf("%.1f", x / 1024)
  if (m ~ /_pct$/) return sprintf("%.0f%%", x)
  if (m ~ /_cpu_us_/) return (x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x))
  if (x >= 100) return sprintf("%.0f", x)
  if (x >= 10) return sprintf("%.1f", x)
  return sprintf("%.2f", x)
}
function ratio(t, m,    d) {
  d = agg("direct", m)
  if (d == "" || d + 0 == 0 || !has(t, m)) return ""
  return agg(t, m) / d
}
function cell(t, m,    r) {
  if (t in pend) return (m ~ /^https_|^rss_/ ? "pending" : "—")   # left out: only the HTTPS rows await it
  if (!has(t, m)) return "—"
  if (m ~ /_errors$|_closes$|_pct$/) return num(agg(t, m), m)
  if (m ~ /^rss_|_cpu_us_/) return (t == "direct" ? "(nginx " num(agg(t, m), m) ")" : num(agg(t, m), m))
  r = ratio(t, m)
  return num(agg(t, m), m) " (" (r == "" ? "—" : sprintf("%.2f×", r)) ")"
}
function row(label, m,    i, line) {
  if (!has("direct", m)) return
  line = "| " label
  for (i = 1; i <= nt; i++) line = line " | " cell(T[i], m)
  print line " |"
}
function section(title,    line, i) {
  line = "| **" title "**"
  for (i = 1; i <= nt; i++) line = line " | "
  print line " |"
}
function jnum(x) { return (x == "" ? "null" : sprintf("%.6g", x)) }
# target checks: fills chk_* arrays
function check(name, req, measured, met, note) {
  nchk++
  chk_name[nchk] = name; chk_req[nchk] = req; chk_meas[nchk] = measured; chk_met[nchk] = met; chk_note[nchk] = note
}
function flow_errors(m, t) { if (t == "") t = "402flow"; return has(t, m) ? agg(t, m) + 0 : 0 }
function not_measured(t) { return (t in pend) ? pend[t] : "not measured" }
# flow-intercept against mitmproxy (at least k times) and against direct (at least d times) on metric m
function intercept_checks(what, m, k, d,    x, e) {
  e = flow_errors(m == "https_new_rate" ? "https_new_errors" : "https_ka_errors", "flow-intercept")
  if (!has("flow-intercept", m) || !has("mitmproxy", m)) check(what " ≥ " k "× mitmproxy", sprintf("≥ %.2f×", k), "", "", not_measured("flow-intercept"))
  else {
    x = agg("flow-intercept", m) / agg("mitmproxy", m)
    check(what " ≥ " k "× mitmproxy", sprintf("≥ %.2f×", k), x, (x >= k && e == 0), e ? e " errors" : "")
  }
  if (!has("flow-intercept", m)) check(what " ≥ " d "× direct HTTPS", sprintf("≥ %.2f×", d), "", "", not_measured("flow-intercept"))
  else {
    x = ratio("flow-intercept", m)
    check(what " ≥ " d "× direct HTTPS", sprintf("≥ %.2f×", d), x, (x >= d && e == 0), e ? e " errors" : "")
  }
}
function https_checks(    x, e) {
  if (has("direct", "https_new_rate")) intercept_checks("Intercepted new connections/s", "https_new_rate", 10, 0.5)
  if (has("direct", "https_ka_rps")) intercept_checks("Kept-alive intercepted req/s", "https_ka_rps", 10, 0.5)
  if (has("direct", "tunnel_rate")) {
    if (!has("402flow", "tunnel_rate")) check("Spliced tunnels/s ≥ 0.95× direct, " tthreads " clients", "≥ 0.95×", "", "", "not measured")
    else {
      x = ratio("402flow", "tunnel_rate"); e = flow_errors("tunnel_errors")
      check("Spliced tunnels/s ≥ 0.95× direct, " tthreads " clients", "≥ 0.95×", x, (x >= 0.95 && e == 0), e ? e " errors" : "")
    }
  }
  if (has("direct", "https_ka_rps")) {
    if (!has("flow-intercept", "rss_ka_peak_kib")) check("RSS under the " ka "-connection intercepted load ≤ 32 MiB", "≤ 32.0 MiB", "", "", not_measured("flow-intercept"))
    else { x = agg("flow-intercept", "rss_ka_peak_kib") / 1024; check("RSS under the " ka "-connection intercepted load ≤ 32 MiB", "≤ 32.0 MiB", x, x <= 32, "") }
  }
}
function checks(    x, met, e) {
  nchk = 0
  if (suite == "https") { https_checks(); return }
  if (!has("direct", "small_rps")) {}
  else if (!has("402flow", "small_rps") || !has("squid", "small_rps")) check("100 B: req/s ≥ 2× Squid", "≥ 2.00×", "", "", "not measured")
  else {
    x = agg("402flow", "small_rps") / agg("squid", "small_rps"); e = flow_errors("small_errors")
    check("100 B: req/s ≥ 2× Squid", "≥ 2.00×", x, (x >= 2 && e == 0), e ? e " errors" : "")
    x = agg("402flow", "small_p99_ms") / agg("squid", "small_p99_ms")
    check("100 B: p99 latency no worse than Squid", "≤ 1.00×", x, (x <= 1 && e == 0), e ? e " errors" : "")
  }
  if (!has("direct", "large_mibps")) {}
  else if (!has("402flow", "large_mibps") || !has("squid", "large_mibps")) check("1 MiB: MiB/s ≥ 3× Squid", "≥ 3.00×", "", "", "not measured")
  else {
    x = agg("402flow", "large_mibps") / agg("squid", "large_mibps"); e = flow_errors("large_errors")
    check("1 MiB: MiB/s ≥ 3× Squid", "≥ 3.00×", x, (x >= 3 && e == 0), e ? e " errors" : "")
  }
  if (!has("direct", "tunnel_rate")) {}
  else if (!has("402flow", "tunnel_rate")) check("New tunnels/s ≥ 0.9× direct", "≥ 0.90×", "", "", "not measured")
  else {
    x = ratio("402flow", "tunnel_rate"); e = flow_errors("tunnel_errors")
    check("New tunnels/s ≥ 0.9× direct", "≥ 0.90×", x, (x >= 0.9 && e == 0), e ? e " errors" : "")
  }
  if (!has("402flow", "rss_idle_kib")) check("RSS idle ≤ 4 MiB", "≤ 4.0 MiB", "", "", "not measured")
  else { x = agg("402flow", "rss_idle_kib") / 1024; check("RSS idle ≤ 4 MiB", "≤ 4.0 MiB", x, x <= 4, "") }
  if (!has("direct", "large_mibps")) {}
  else if (!has("402flow", "rss_load_peak_kib")) check("RSS under the 1 MiB load ≤ 16 MiB", "≤ 16.0 MiB", "", "", "not measured")
  else { x = agg("402flow", "rss_load_peak_kib") / 1024; check("RSS under the 1 MiB load ≤ 16 MiB", "≤ 16.0 MiB", x, x <= 16, "") }
}

NR == 1 { next }
{
  k = $2 SUBSEP $3
  cnt[k]++
  val[k, cnt[k]] = $4 + 0
  if ($1 + 0 > maxround) maxround = $1 + 0
  if ($3 ~ /_steal_pct$/ && $4 + 0 > maxsteal) maxsteal = $4 + 0
  if ($3 ~ /_busy_before_pct$/ && $4 + 0 > maxbusy) maxbusy = $4 + 0
  if ($3 ~ /_foreign_pct$/ && $4 + 0 > maxforeign) maxforeign = $4 + 0
}
function label(t) {
  if (t == "flow-intercept") return "402flow intercepting"
  if (t == "402flow" && index("," targets ",", ",flow-intercept,")) return "402flow splicing"
  return t
}
END {
  nt = split(targets, T, ",")
  np = split(pending, P, ";")
  for (i = 1; i <= np; i++) if (P[i] != "") { j = index(P[i], "="); pend[substr(P[i], 1, j - 1)] = substr(P[i], j + 1) }
  checks()
  if (mode == "json") {
    printf "{\"meta\":{%s},\"params\":{%s},\"aggregation\":\"median over rounds; *_errors summed; rss_* max; rss of direct = nginx origin\",\n", meta, params
    split("small_rps small_p50_ms small_p99_ms small_errors small_closes small_cpu_load_pct small_cpu_proxy_pct small_steal_pct small_foreign_pct small_cpu_us_per_req small_busy_before_pct large_mibps large_rps large_p50_ms large_p99_ms large_errors large_closes large_cpu_load_pct large_cpu_proxy_pct large_steal_pct large_foreign_pct large_cpu_us_per_mib large_busy_before_pct tunnel_rate tunnel_p99_ms tunnel_errors tunnel_cpu_load_pct tunnel_cpu_proxy_pct tunnel_steal_pct tunnel_foreign_pct tunnel_cpu_us_per_tunnel tunnel_busy_before_pct https_new_rate https_new_p99_ms https_new_errors https_new_cpu_load_pct https_new_cpu_proxy_pct https_new_steal_pct https_new_foreign_pct https_new_cpu_us_per_conn https_new_busy_before_pct https_ka_rps https_ka_p50_ms https_ka_p99_ms https_ka_errors https_ka_cpu_load_pct https_ka_cpu_proxy_pct https_ka_steal_pct https_ka_foreign_pct https_ka_cpu_us_per_req https_ka_busy_before_pct rss_ka_peak_kib rss_ka_sampled_kib rss_idle_kib rss_idle_anon_kib rss_load_peak_kib rss_load_sampled_kib rss_after_kib rss_after_anon_kib", M, " ")
    printf "\"results\":{"
    for (i = 1; i <= nt; i++) {
      printf "%s\"%s\":{", (i > 1 ? "," : ""), T[i]
      first = 1
      for (j = 1; j in M; j++) {
        if (!has(T[i], M[j])) continue
        printf "%s\"%s\":%s", (first ? "" : ","), M[j], jnum(agg(T[i], M[j])); first = 0
      }
      printf "}"
    }
    printf "},\n\"ratio_to_direct\":{"
    for (i = 1; i <= nt; i++) {
      printf "%s\"%s\":{", (i > 1 ? "," : ""), T[i]
      first = 1
      for (j = 1; j in M; j++) {
        if (M[j] ~ /_errors$|_closes$|_pct$|^rss_|_cpu_us_/ || !has(T[i], M[j])) continue
        printf "%s\"%s\":%s", (first ? "" : ","), M[j], jnum(ratio(T[i], M[j])); first = 0
      }
      printf "}"
    }
    printf "},\n\"targets\":["
    for (i = 1; i <= nchk; i++) {
      printf "%s{\"name\":\"%s\",\"required\":\"%s\",\"measured\":%s,\"met\":%s%s}", (i > 1 ? "," : ""), chk_name[i],
        chk_req[i], jnum(chk_meas[i]), (chk_met[i] == "" ? "null" : (chk_met[i] ? "true" : "false")),
        (chk_note[i] == "" ? "" : ",\"note\":\"" chk_note[i] "\"")
    }
    printf "],\n\"pending\":{"
    first = 1
    for (t in pend) { printf "%s\"%s\":\"%s\"", (first ? "" : ","), t, pend[t]; first = 0 }
    printf "}}\n"
    exit
  }
  # markdown
  print "Run " date " — " machine "."
  print ""
  print params "."
  print ""
  line = "| Scenario / figure"; sep = "| ---"
  for (i = 1; i <= nt; i++) { line = line " | " label(T[i]); sep = sep " | ---:" }
  print line " |"; print sep " |"
  if (has("direct", "small_rps")) {
    section("100-byte bodies, keep-alive")
    row("req/s", "small_rps"); row("p50 latency, ms", "small_p50_ms"); row("p99 latency, ms", "small_p99_ms")
    row("failed requests (all rounds)", "small_errors"); row("connections closed by the server (all rounds)", "small_closes")
    row("CPU 0 busy (client + origin)", "small_cpu_load_pct"); row("CPU 1 busy (proxy)", "small_cpu_proxy_pct")
    row("proxy CPU time per request, µs", "small_cpu_us_per_req")
  }
  if (has("direct", "large_mibps")) {
    section("1 MiB bodies, keep-alive")
    row("MiB/s", "large_mibps"); row("p99 latency, ms", "large_p99_ms"); row("failed requests (all rounds)", "large_errors")
    row("connections closed by the server (all rounds)", "large_closes")
    row("CPU 0 busy (client + origin)", "large_cpu_load_pct"); row("CPU 1 busy (proxy)", "large_cpu_proxy_pct")
    row("proxy CPU time per MiB, µs", "large_cpu_us_per_mib")
  }
  if (has("direct", "tunnel_rate")) {
    section("New CONNECT tunnel + TLS handshake + GET" (suite == "https" ? " (spliced, " tthreads " clients)" : ""))
    row("tunnels/s", "tunnel_rate"); row("p99 time per tunnel, ms", "tunnel_p99_ms"); row("failed tunnels (all rounds)", "tunnel_errors")
    row("CPU 0 busy (client + origin)", "tunnel_cpu_load_pct"); row("CPU 1 busy (proxy)", "tunnel_cpu_proxy_pct")
    row("proxy CPU time per tunnel, µs", "tunnel_cpu_us_per_tunnel")
  }
  if (has("direct", "https_new_rate")) {
    section("New HTTPS connection through the proxy: CONNECT + TLS handshake with the proxy's leaf + GET (" tthreads " clients)")
    row("connections/s", "https_new_rate"); row("p99 time per connection, ms", "https_new_p99_ms")
    row("failed connections (all rounds)", "https_new_errors")
    row("CPU 0 busy (client + origin)", "https_new_cpu_load_pct"); row("CPU 1 busy (proxy)", "https_new_cpu_proxy_pct")
    row("proxy CPU time per connection, µs", "https_new_cpu_us_per_conn")
  }
  if (has("direct", "https_ka_rps")) {
    section("100-byte GETs on " ka " kept-alive HTTPS connections")
    row("req/s", "https_ka_rps"); row("p50 latency, ms", "https_ka_p50_ms"); row("p99 latency, ms", "https_ka_p99_ms")
    row("failed requests (all rounds)", "https_ka_errors")
    row("CPU 0 busy (client + origin)", "https_ka_cpu_load_pct"); row("CPU 1 busy (proxy)", "https_ka_cpu_proxy_pct")
    row("proxy CPU time per request, µs", "https_ka_cpu_us_per_req")
  }
  section("Memory (whole process tree), MiB")
  row("RSS idle after start", "rss_idle_kib")
  row("… of which anonymous (heap, stacks)", "rss_idle_anon_kib")
  row("RSS peak under the " ka " kept-alive HTTPS connections", "rss_ka_peak_kib")
  row("RSS peak under the 1 MiB load", "rss_load_peak_kib")
  row("RSS idle after the run", "rss_after_kib")
  row("… of which anonymous (heap, stacks)", "rss_after_anon_kib")
  print ""
  print "Figures are medians of the rounds with the ratio to going direct in brackets (for latency, lower is better);"
  print "failures and closes are summed over rounds, RSS is the maximum over rounds. The direct column's RSS is the nginx origin's, for scale."
  print "RSS counts the pages of shared libraries (libc, libstdc++, ...) that the process has touched; the anonymous part is its own heap and stacks."
  print "Failed = non-2xx answer, timeout (> 5 s), connect or write error; a close is a connection the server ended after a"
  print "complete response (wrk counts it as a read error: tinyproxy does not keep client connections alive)."
  print "CPU busy = share of the measurement that the CPU was not idle (median over rounds); whichever CPU is near 100% sets the pace."
  print "Proxy CPU time = user + system time of the proxy's processes (all threads) over the measurement, divided by the work done"
  print "(the direct column gives nginx's, for scale); kernel time spent in softirq context is not in it."
  for (t in pend) print "**" label(t) "**: " pend[t] "; not measured."
  printf "Machine noise: highest CPU steal (time the hypervisor gave elsewhere) in any measurement %.1f%%; most CPU taken by other\n", maxsteal
  printf "processes during a kept measurement %.0f%% of one CPU (measurements above 15%% are taken again, up to 3 tries); busiest CPU\n", maxforeign
  printf "just before a measurement, with the benchmark idle, %.0f%%.\n", maxbusy
  print ""
  print "| " (suite == "https" ? "402flow HTTPS target" : "402flow target") " | required | measured | result |"
  print "| --- | ---: | ---: | --- |"
  for (i = 1; i <= nchk; i++) {
    if (chk_meas[i] == "") m = "—"
    else if (chk_req[i] ~ /MiB/) m = sprintf("%.1f MiB", chk_meas[i])
    else m = sprintf("%.2f×", chk_meas[i])
    res = (chk_met[i] == "" ? chk_note[i] : (chk_met[i] ? "met" : "**missed**") (chk_note[i] == "" ? "" : " (" chk_note[i] ")"))
    print "| " chk_name[i] " | " chk_req[i] " | " m " | " res " |"
  }
}

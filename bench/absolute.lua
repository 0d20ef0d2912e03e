-- wrk script for the 402flow benchmark (bench/run.sh).
--
-- Through a forward proxy:  wrk ... -s absolute.lua http://PROXY_HOST:PROXY_PORT/ -- http://127.0.0.1:ORIGIN/100b
--   wrk connects to the proxy, and every request carries the absolute-form target
--   "GET http://127.0.0.1:ORIGIN/100b HTTP/1.1" with "Host: 127.0.0.1:ORIGIN", as a browser
--   configured with an HTTP proxy would send it.
-- Direct (no argument):     wrk ... -s absolute.lua http://127.0.0.1:ORIGIN/100b
--   plain origin-form requests straight to nginx.
--
-- In both cases done() prints one machine-readable line that run.sh parses:
--   BENCH requests=N bytes=N duration_us=N connect_errors=N read_errors=N write_errors=N
--         status_errors=N timeouts=N p50_us=N p90_us=N p99_us=N max_us=N

function init(args)
   local url = args[1]
   if url ~= nil then
      local authority = url:match("^http://([^/]+)")
      if authority == nil then
         error("absolute.lua: expected http://host:port/path, got " .. url)
      end
      wrk.path = url
      wrk.headers["Host"] = authority
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d bytes=%d duration_us=%d connect_errors=%d read_errors=%d write_errors=%d " ..
      "status_errors=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

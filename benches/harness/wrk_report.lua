-- wrk script used for every harness run (wrk -s wrk_report.lua URL [UPLOAD_BYTES]).
--
-- done() prints one line, WRK_JSON {...}, after wrk's own summary: exact request, byte and
-- error counts and the latency distribution as a percentile spectrum (wrk's text output
-- rounds bytes to two decimals and stops at p99). With an argument, every request is a
-- POST with a body of that many bytes (the upload scenarios). The request is built once per
-- thread by wrk.init (no `request`/`response` functions here), so wrk stays on its fast path
-- with no Lua call per request.

-- HdrHistogram-style spectrum: finer towards the tail, where before/after comparisons live.
local PERCENTILES = { 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.25, 97.5,
                      98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999 }

function init(args)
   local size = tonumber(args[1])
   if size then
      wrk.method = "POST"
      wrk.body = string.rep("x", size)
      wrk.headers["Content-Type"] = "application/octet-stream"
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local out = {
      string.format('"requests":%.0f,"bytes":%.0f,"duration_us":%.0f', summary.requests,
                    summary.bytes, summary.duration),
      string.format('"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,' ..
                    '"timeout":%.0f}', e.connect, e.read, e.write, e.status, e.timeout),
   }
   -- wrk records latencies up to its --timeout; with nothing recorded, min/max are meaningless.
   if summary.requests > 0 and latency.max > 0 then
      local ps = {}
      for _, p in ipairs(PERCENTILES) do
         ps[#ps + 1] = string.format("[%g,%.0f]", p, latency:percentile(p))
      end
      out[#out + 1] = string.format('"latency_us":{"min":%.0f,"mean":%.1f,"stdev":%.1f,' ..
                                    '"max":%.0f,"percentiles":[%s]}', latency.min,
                                    latency.mean, latency.stdev, latency.max,
                                    table.concat(ps, ","))
   end
   io.write("WRK_JSON {" .. table.concat(out, ",") .. "}\n")
end

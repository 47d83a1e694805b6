-- wrk script: the password grant for the bench user, as a backend sends it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&client_id=bench&client_secret=bench-secret"
  .. "&username=bench%40example.test&password=bench-password-0123456789"
  .. "&audience=https%3A%2F%2Fapi.bench.test"

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if non200 <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n") end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

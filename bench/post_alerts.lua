-- wrk script: POST an Alertmanager webhook (version 4) carrying one alert that no earlier
-- request carried, so the bridge can dedupe nothing. Fingerprint, labels and groupKey all
-- derive from (thread number, per-thread counter); a run id keeps repeated runs distinct.
-- Environment: BENCH_TOKEN (Bearer token), BENCH_RUN (any short string), BENCH_PATH.

local token = os.getenv("BENCH_TOKEN") or "bench-token"
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())
local path = os.getenv("BENCH_PATH") or "/webhook/alertmanager"
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.path = path
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

local template = [[{"version":"4","groupKey":"{}:{alertname=\"BenchAlert\",instance=\"%s\"}",]]
  .. [["status":"firing","receiver":"whatsapp","groupLabels":{"alertname":"BenchAlert"},]]
  .. [["commonLabels":{"alertname":"BenchAlert","severity":"warning","job":"bench"},]]
  .. [["commonAnnotations":{},"externalURL":"http://alertmanager.bench:9093","alerts":[]]
  .. [[{"status":"firing","labels":{"alertname":"BenchAlert","instance":"%s","job":"bench",]]
  .. [["severity":"warning"},"annotations":{"summary":"Load test alert %s",]]
  .. [["description":"Synthetic alert from the alertbridge benchmark."},]]
  .. [["startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",]]
  .. [["generatorURL":"http://prometheus.bench:9090/graph","fingerprint":"%s"}]}]]

function request()
  counter = counter + 1
  local id = string.format("%s-%d-%d", run_id, thread_no, counter)
  local fingerprint = string.format("%s%02x%010x", run_id, thread_no, counter)
  local body = string.format(template, id, id, id, fingerprint)
  return wrk.format(nil, nil, nil, body)
end

#!/usr/bin/env bash
# End-to-end check of the operator artifacts against real processes, all on 127.0.0.1:
#   redis-server  <-  infraprobe (.build/debug/infraprobe)  <-  Prometheus (examples/prometheus.yml,
#   rendered with 1 s intervals and this run's ports, + alerts/infraprobe.rules.yml)
#   ->  Alertmanager (examples/alertmanager.yml, rendered with 1 s grouping and this run's webhook)
#   ->  a tiny Python webhook receiver writing every payload to a file.
# The fakes (`infraprobe-fakes`, linked like a real deployment and listing redis-server in Consul)
# feed a pipeline target (renamed `trace-flows`: the Target dashboard's single-value variable takes
# the first target name in sort order, which must stay redis-main for its Redis panels to have
# data), so the Overview's Pipelines row has data too; stopping redis-server also breaks its
# service_discovery link.
# Steps: every dashboard panel query must return data from that Prometheus (healthy phase and
# failure phase together; a "failing components" table is empty while all is well), the
# Overview is printed as text, then redis-server is stopped and InfraprobeTargetDown must reach
# the webhook with the right labels and annotations, then redis-server is restarted and the
# resolve must arrive.
#
# `for:` durations: the real rules use minutes (2m for TargetDown). To finish in about a minute
# this script renders a copy of the rules with every `for:` divided by E2E_FOR_DIVISOR
# (default 30: 2m -> 4s, 5m -> 10s). Expressions, labels and annotations are the shipped ones;
# the real `for:` semantics are covered by `promtool test rules alerts/tests/*_test.yml`.
# E2E_FOR_DIVISOR=1 runs with the real durations (TargetDown then takes ~2 minutes).
#
# Every process this script starts is stopped by its pid on exit. KEEP_E2E_DIR=1 keeps the
# temporary directory (logs, rendered configs, webhook payloads).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIVISOR=${E2E_FOR_DIVISOR:-30}
# Per-expectation timeout: TargetDown needs its for: (2m / DIVISOR) plus scrape, eval and grouping.
export E2E_WAIT=$(( 60 + 150 / DIVISOR ))
BIN=.build/debug/infraprobe
FAKES=.build/debug/infraprobe-fakes
[ -x "$BIN" ] || swift build
[ -x "$FAKES" ] || swift build --product infraprobe-fakes
HARNESS_NAME=e2e
KEEP_DIR=${KEEP_E2E_DIR:-0}
source scripts/lib/harness.sh
require_tools redis-server prometheus prometheus-alertmanager promtool python3 curl

REDIS_PORT=$(free_port); IP_PORT=$(free_port); PROM_PORT=$(free_port); AM_PORT=$(free_port); HOOK_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
AM=http://127.0.0.1:$AM_PORT
log "ports: redis $REDIS_PORT, infraprobe $IP_PORT, prometheus $PROM_PORT, alertmanager $AM_PORT, webhook $HOOK_PORT; dir $WORK"


start_redis

"$FAKES" --config-out "$WORK/fakes.yml" --redis "127.0.0.1:$REDIS_PORT" >"$WORK/fakes.log" 2>&1 &
PIDS+=($!)
deadline=$(( SECONDS + 20 ))
until [ -s "$WORK/fakes.yml" ]; do
  [ $SECONDS -lt $deadline ] || { echo "e2e: infraprobe-fakes did not start" >&2; exit 1; }
  sleep 0.1
done
# Our own Redis target is redis-main; the fakes' targets (without their `redis` one) feed the pipeline.
{ printf 'targets:\n  redis-main:\n    prober: redis\n    address: 127.0.0.1:%s\n' "$REDIS_PORT"
  python3 -c 'import re, sys; t = open(sys.argv[1]).read(); t = re.sub(r"^  redis:\n(    .*\n)+", "", t, flags=re.M); print(t.split("targets:\n", 1)[1].replace("  flows:\n", "  trace-flows:\n"), end="")' "$WORK/fakes.yml"
} >"$WORK/infraprobe.yml"
"$BIN" --config.file "$WORK/infraprobe.yml" --web.listen-address "127.0.0.1:$IP_PORT" >"$WORK/infraprobe.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$IP_PORT/-/healthy" 20

# Webhook receiver: one JSON line per notification, {"path": ..., "payload": ...}.
cat >"$WORK/webhook.py" <<'EOF'
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "payload": json.loads(body)}) + "\n")
        self.send_response(200); self.end_headers()
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
: >"$WORK/webhook.jsonl"
python3 "$WORK/webhook.py" "$HOOK_PORT" "$WORK/webhook.jsonl" >"$WORK/webhook.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$HOOK_PORT/" 10

# The shipped configs with this run's ports and 1 s timings.
render_prometheus "$DIVISOR" "$IP_PORT" "redis-main trace-flows" "$AM_PORT"
python3 - "$REPO" "$WORK" "$HOOK_PORT" <<'EOF'
import sys
repo, work, hook_port = sys.argv[1:]
def sub(text, old, new):
    assert old in text, f"render: {old!r} not found"
    return text.replace(old, new)
a = open(f"{repo}/examples/alertmanager.yml").read()
a = sub(a, "group_wait: 30s", "group_wait: 1s")
a = sub(a, "group_interval: 5m", "group_interval: 1s")
a = a.replace("http://127.0.0.1:5001/", f"http://127.0.0.1:{hook_port}/")
open(f"{work}/alertmanager.yml", "w").write(a)
EOF
amtool check-config "$WORK/alertmanager.yml" >/dev/null 2>&1 || { amtool check-config "$WORK/alertmanager.yml"; exit 1; }

mkdir -p "$WORK/am-data" "$WORK/prom-data"
prometheus-alertmanager --config.file "$WORK/alertmanager.yml" --storage.path "$WORK/am-data" \
  --web.listen-address "127.0.0.1:$AM_PORT" --cluster.listen-address= >"$WORK/alertmanager.log" 2>&1 &
PIDS+=($!)
prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/prom-data" \
  --web.listen-address "127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "$AM/-/ready" 30
wait_http "$PROM/-/ready" 30
T_PROM=$EPOCHREALTIME
log "prometheus and alertmanager ready"

# Small Prometheus/webhook helpers in Python (stdlib only).
cat >"$WORK/check.py" <<'EOF'
import json, os, sys, time, urllib.parse, urllib.request
def q(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
def until(timeout, fn, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            got = fn()
        except Exception as e:  # Prometheus still starting
            got = None
        if got:
            return got
        time.sleep(0.25)
    sys.exit(f"e2e: timed out after {timeout}s waiting for {what}")
def hooks(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
def find(path, status, alertname):
    for h in hooks(path):
        for a in h["payload"]["alerts"]:
            if a["status"] == status and a["labels"].get("alertname") == alertname:
                return h, a
cmd = sys.argv[1]
if cmd == "scraped":
    base = sys.argv[2]
    until(60, lambda: len(q(base, 'up{job="infraprobe"} == 1')) and len(q(base, 'up{job="infraprobe-exporter"} == 1'))
          and len(q(base, ':infraprobe_health_ratio:ratio')) and len(q(base, 'count_over_time(infraprobe_probes_total[1m]) >= 3')),
          "both jobs scraped, recording rules evaluated, 3 samples for rate()")
elif cmd == "rules-ok":
    base = sys.argv[2]
    groups = json.load(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5))["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    if bad or len(rules) < 16:
        sys.exit(f"e2e: rule evaluation problems ({len(rules)} rules): {bad}")
    print(f"{len(rules)} rules loaded, all health=ok")
elif cmd == "expect":  # expect FILE firing|resolved ALERTNAME key=value... [annotation~substring...]
    path, status, alertname, checks = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    h, a = until(float(os.environ.get("E2E_WAIT", "90")), lambda: find(path, status, alertname), f"{status} {alertname} at the webhook")
    problems = []
    for c in checks:
        if "~" in c:
            k, v = c.split("~", 1)
            if v not in a["annotations"].get(k, ""):
                problems.append(f"annotation {k}={a['annotations'].get(k)!r} lacks {v!r}")
        else:
            k, v = c.split("=", 1)
            if k == "receiver_path":
                if h["path"] != v:
                    problems.append(f"delivered to {h['path']}, expected {v}")
            elif a["labels"].get(k) != v:
                problems.append(f"label {k}={a['labels'].get(k)!r}, expected {v!r}")
    for k, v in a["annotations"].items():
        if "<no value>" in v:
            problems.append(f"annotation {k} has <no value>: {v}")
    if problems:
        sys.exit(f"e2e: {status} {alertname} payload wrong: " + "; ".join(problems) + "\n" + json.dumps(a, indent=1))
    print(f"{status} {alertname} via {h['path']}: labels {json.dumps(a['labels'], sort_keys=True)}")
    if status == "firing":
        for k in ("summary", "description", "runbook_url"):
            print(f"  {k}: {a['annotations'].get(k)}")
elif cmd == "prom-alerts":  # prom-alerts BASE: print firing/pending alerts
    base = sys.argv[2]
    alerts = json.load(urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5))["data"]["alerts"]
    for a in sorted(alerts, key=lambda a: a["labels"]["alertname"]):
        l = a["labels"]
        print(f"  {a['state']:<8} {l['alertname']:<32} " + " ".join(f"{k}={l[k]}" for k in ("target", "component") if k in l))
elif cmd == "not-firing":  # not-firing BASE ALERTNAME...
    base = sys.argv[2]
    alerts = json.load(urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5))["data"]["alerts"]
    bad = [a["labels"] for a in alerts if a["labels"]["alertname"] in sys.argv[3:]]
    if bad:
        sys.exit(f"e2e: alerts that must stay silent are active: {bad}")
elif cmd == "am-active":  # am-active AM ALERTNAME
    base, name = sys.argv[2], sys.argv[3]
    url = f"{base}/api/v2/alerts?" + urllib.parse.urlencode({"filter": f'alertname="{name}"'})
    got = json.load(urllib.request.urlopen(url, timeout=5))
    if not any(a["status"]["state"] == "active" for a in got):
        sys.exit(f"e2e: {name} not active in Alertmanager: {got}")
    print(f"{name} active in Alertmanager")
EOF
# Long waits run in the background and are waited for, so a signal reaches the trap at once.
CHECK=check
check() { python3 "$WORK/check.py" "$@" & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=""; return "$rc"; }

$CHECK scraped "$PROM"
log "first scrapes in ($(elapsed "$T_PROM")s after Prometheus was ready)"
$CHECK rules-ok "$PROM"

# Dashboards, phase 1: everything healthy.
: >"$WORK/dashboard-data.jsonl"
scripts/lint-dashboards --prometheus "$PROM" --record "$WORK/dashboard-data.jsonl"
echo
scripts/lint-dashboards --prometheus "$PROM" --summary infraprobe-overview
echo

# Failure: stop redis-server.
stop_redis
T_STOP=$EPOCHREALTIME
log "redis-server stopped"
$CHECK expect "$WORK/webhook.jsonl" firing InfraprobeTargetDown \
  receiver_path=/pager severity=critical job=infraprobe instance=redis-main target=redis-main prober=redis \
  component=service_running \
  'summary~A probed service is not running.' \
  'description~redis target redis-main fails its service_running check (reason: connection_refused)' \
  'runbook_url~docs/runbooks.md#infraprobetargetdown'
T_FIRED=$EPOCHREALTIME
log "InfraprobeTargetDown reached the webhook $(elapsed "$T_STOP" "$T_FIRED")s after redis-server stopped"
$CHECK am-active "$AM" InfraprobeTargetDown
# Components that fail only because the service is down must not alert on their own.
$CHECK not-firing "$PROM" InfraprobeComponentDown InfraprobeTargetDegraded InfraprobeExporterDown InfraprobeExporterAbsent
echo "Prometheus alerts now:"; $CHECK prom-alerts "$PROM"

# Dashboards, phase 2: with failures (fills the failing-components tables and alert counters).
sleep 1
scripts/lint-dashboards --prometheus "$PROM" --record "$WORK/dashboard-data.jsonl"
echo
scripts/lint-dashboards --prometheus "$PROM" --summary infraprobe-overview
echo

# Recovery.
start_redis
T_START=$EPOCHREALTIME
log "redis-server restarted"
$CHECK expect "$WORK/webhook.jsonl" resolved InfraprobeTargetDown \
  receiver_path=/pager severity=critical target=redis-main component=service_running
log "InfraprobeTargetDown resolve reached the webhook $(elapsed "$T_START")s after redis-server restarted"

echo "Every dashboard panel query returned data (union of the healthy and failing phases):"
scripts/lint-dashboards --require-data "$WORK/dashboard-data.jsonl" | tail -n 1
# --require-data exits non-zero (and lists the empty queries) if any query never had data.
scripts/lint-dashboards --require-data "$WORK/dashboard-data.jsonl" >/dev/null

log "e2e passed: stop->firing $(elapsed "$T_STOP" "$T_FIRED")s, restart->resolved $(elapsed "$T_START")s, total $(elapsed "$T0")s"

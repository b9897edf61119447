#!/usr/bin/env bash
# End-to-end check of the operator artifacts against real processes, all on 127.0.0.1:
#   redis-server (two: redis-main by name, one more found by a module job's file_sd) and the
#   fakes  <-  infraprobe (.build/debug/infraprobe)  <-  Prometheus (examples/prometheus.yml,
#   rendered with 1 s intervals and this run's ports, + alerts/infraprobe.rules.yml)
#   ->  Alertmanager (examples/alertmanager.yml, rendered with 1 s grouping and this run's webhook)
#   ->  a tiny Python webhook receiver writing every payload to a file.
# The fakes (`infraprobe-fakes`, linked like a real deployment, with a control endpoint to break
# and restore them) feed a pipeline target (renamed `trace-flows`: the Target dashboard's
# single-value variable takes the first target name in sort order, which must stay redis-main
# for its Redis panels to have data), so the Overview's Pipelines row has data too.
# Steps: every dashboard panel query must return data from that Prometheus (healthy and failure
# phases together; a "failing components" table is empty while all is well), the
# Overview is printed as text, then one fault after another, each alert checked at the webhook
# (labels, rendered annotations, receiver) when it fires and when it resolves:
#   redis-server stopped      InfraprobeTargetDown (pager); its ComponentDown and TargetDegraded
#                             fire in Prometheus but are suppressed by inhibition in Alertmanager
#                             and never reach the webhook
#   redis ACL without writes  InfraprobeTargetDegraded (tickets); its ComponentDowns suppressed
#   module Redis w/o streams  InfraprobeComponentDown (tickets): one component of seven
#   collector drops spans     InfraprobePipelineLinkBroken (tickets)
#   broken config + SIGHUP    InfraprobeConfigReloadFailed (tickets)
#   Tempo fake down           InfraprobeTargetDown of tempo (pager); the PipelineLinkBroken of
#                             the pipeline component that crosses Tempo is suppressed
#   infraprobe killed         InfraprobeExporterDown for every job, module job included (one page)
# and prints a table of fire/resolve seconds per alert (fault injected -> webhook).
#
# `for:` durations: the real rules use minutes (2m for TargetDown). To finish in a few minutes
# this script renders a copy of the rules with every `for:` divided by E2E_FOR_DIVISOR
# (default 30: 2m -> 4s, 5m -> 10s). Expressions, labels and annotations are the shipped ones;
# the real `for:` semantics are covered by `promtool test rules alerts/tests/*_test.yml`.
# E2E_FOR_DIVISOR=1 runs with the real durations (then each step takes minutes).
#
# Every process this script starts is stopped by its pid on exit. KEEP_E2E_DIR=1 keeps the
# temporary directory (logs, rendered configs, webhook payloads).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIVISOR=${E2E_FOR_DIVISOR:-30}
# Per-expectation timeout: the longest for: (15m / DIVISOR) plus scrape, eval and grouping.
export E2E_WAIT=$(( 60 + 900 / DIVISOR ))
BIN=.build/debug/infraprobe
FAKES=.build/debug/infraprobe-fakes
[ -x "$BIN" ] || swift build
[ -x "$FAKES" ] || swift build --product infraprobe-fakes
HARNESS_NAME=e2e
KEEP_DIR=${KEEP_E2E_DIR:-0}
source scripts/lib/harness.sh
require_tools redis-server prometheus prometheus-alertmanager promtool python3 curl
require_tools redis-cli amtool

REDIS_PORT=$(free_port); REDIS2_PORT=$(free_port); IP_PORT=$(free_port); PROM_PORT=$(free_port)
AM_PORT=$(free_port); HOOK_PORT=$(free_port); CTL_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
AM=http://127.0.0.1:$AM_PORT
CTL=http://127.0.0.1:$CTL_PORT
log "ports: redis $REDIS_PORT and $REDIS2_PORT, infraprobe $IP_PORT, prometheus $PROM_PORT, alertmanager $AM_PORT, webhook $HOOK_PORT, fakes control $CTL_PORT; dir $WORK"

start_redis
# The module job's redis: found by file_sd, probed with ?module=redis_cache&target=ADDRESS.
redis-server --port "$REDIS2_PORT" --bind 127.0.0.1 --save '' --appendonly no --maxmemory 64mb --dir "$WORK" --daemonize no >"$WORK/redis2.log" 2>&1 &
PIDS+=($!)

# No --redis: the Consul fake then lists no Redis service, so stopping redis-server breaks
# redis-main only (the pipeline's service_discovery would otherwise fail too, a Redis the pipeline
# reaches through Consul and not through a named link).
"$FAKES" --config-out "$WORK/fakes.yml" --control "127.0.0.1:$CTL_PORT" >"$WORK/fakes.log" 2>&1 &
PIDS+=($!)
deadline=$(( SECONDS + 20 ))
until [ -s "$WORK/fakes.yml" ]; do
  [ $SECONDS -lt $deadline ] || { echo "e2e: infraprobe-fakes did not start" >&2; exit 1; }
  sleep 0.1
done
control() { curl -fsS -X POST "$CTL/$1/$2" >/dev/null; }
# Our own Redis target is redis-main; the fakes' targets feed the pipeline; one module for the module job.
{ printf 'targets:\n  redis-main:\n    prober: redis\n    address: 127.0.0.1:%s\n' "$REDIS_PORT"
  python3 -c 'import sys; t = open(sys.argv[1]).read(); print(t.split("targets:\n", 1)[1].replace("  flows:\n", "  trace-flows:\n"), end="")' "$WORK/fakes.yml"
  printf 'modules:\n  redis_cache:\n    prober: redis\n    allowed_targets: ["127.0.0.1:%s"]\n' "$REDIS2_PORT"
} >"$WORK/infraprobe.yml"
cp "$WORK/infraprobe.yml" "$WORK/infraprobe.yml.good"
mkdir -p "$WORK/file_sd"
printf '[{"targets": ["127.0.0.1:%s"], "labels": {"team": "e2e"}}]\n' "$REDIS2_PORT" >"$WORK/file_sd/redis.json"
start_infraprobe() {
  "$BIN" --config.file "$WORK/infraprobe.yml" --web.listen-address "127.0.0.1:$IP_PORT" >>"$WORK/infraprobe.log" 2>&1 &
  IP_PID=$!
  PIDS+=("$IP_PID")
  wait_http "http://127.0.0.1:$IP_PORT/-/healthy" 20 "$IP_PID"
}
start_infraprobe

# Webhook receiver: one JSON line per notification, {"time": ..., "path": ..., "payload": ...}.
cat >"$WORK/webhook.py" <<'EOF'
import http.server, json, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"time": time.time(), "path": self.path, "payload": json.loads(body)}) + "\n")
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
wait_http "http://127.0.0.1:$HOOK_PORT/" 10 "$!"

# The shipped configs with this run's ports and 1 s timings.
render_prometheus "$DIVISOR" "$IP_PORT" "redis-main trace-flows consul arangodb tempo grafana otel" "$AM_PORT"
render_alertmanager "$HOOK_PORT"

mkdir -p "$WORK/am-data" "$WORK/prom-data"
prometheus-alertmanager --config.file "$WORK/alertmanager.yml" --storage.path "$WORK/am-data" \
  --web.listen-address "127.0.0.1:$AM_PORT" --cluster.listen-address= >"$WORK/alertmanager.log" 2>&1 &
AM_PID=$!
PIDS+=("$AM_PID")
prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/prom-data" \
  --web.listen-address "127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
wait_http "$AM/-/ready" 30 "$AM_PID"
wait_http "$PROM/-/ready" 30 "$PROM_PID"
T_PROM=$EPOCHREALTIME
log "prometheus and alertmanager ready"

# Small Prometheus/Alertmanager/webhook helpers in Python (stdlib only).
cat >"$WORK/check.py" <<'EOF'
import json, os, sys, time, urllib.parse, urllib.request
WAIT = float(os.environ.get("E2E_WAIT", "90"))
def get(url):
    return json.load(urllib.request.urlopen(url, timeout=5))
def q(base, expr):
    return get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"]
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
def split(args):
    """key=value label matchers, annotation~substring checks, since=EPOCH, receiver_path=..."""
    labels, annotations, opts = {}, {}, {}
    for c in args:
        if "~" in c and ("=" not in c or c.index("~") < c.index("=")):
            k, v = c.split("~", 1); annotations[k] = v
        else:
            k, v = c.split("=", 1)
            (opts if k in ("since", "receiver_path") else labels)[k] = v
    return labels, annotations, opts
def matching(path, status, alertname, labels, since=0.0):
    for h in hooks(path):
        if h["time"] < since:
            continue
        for a in h["payload"]["alerts"]:
            if a["status"] == status and a["labels"].get("alertname") == alertname \
                    and all(a["labels"].get(k) == v for k, v in labels.items()):
                yield h, a
def active(base):
    return get(f"{base}/api/v1/alerts")["data"]["alerts"]
cmd = sys.argv[1]
if cmd == "scraped":
    base = sys.argv[2]
    until(60, lambda: len(q(base, 'up{job="infraprobe"} == 1')) >= 7 and len(q(base, 'up{job="infraprobe-exporter"} == 1'))
          and len(q(base, 'up{job="infraprobe-redis"} == 1'))
          and len(q(base, ':infraprobe_health_ratio:ratio')) and len(q(base, 'count_over_time(infraprobe_probes_total[1m]) >= 3')),
          "every job scraped, recording rules evaluated, 3 samples for rate()")
elif cmd == "rules-ok":
    base = sys.argv[2]
    groups = get(f"{base}/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    if bad or len(rules) < 30:
        sys.exit(f"e2e: rule evaluation problems ({len(rules)} rules): {bad}")
    print(f"{len(rules)} rules loaded, all health=ok")
elif cmd == "healthy":  # healthy BASE: no alert pending or firing (before the first fault)
    base = sys.argv[2]
    def quiet():
        return not active(base)
    until(WAIT, quiet, "no alert active on the healthy stack")
elif cmd == "expect":  # expect FILE firing|resolved ALERTNAME label=value... annotation~substring... [since=EPOCH] [receiver_path=/x]
    path, status, alertname = sys.argv[2], sys.argv[3], sys.argv[4]
    labels, annotations, opts = split(sys.argv[5:])
    since = float(opts.get("since", 0))
    h, a = until(WAIT, lambda: next(matching(path, status, alertname, labels, since), None),
                 f"{status} {alertname} {labels} at the webhook")
    problems = []
    for k, v in annotations.items():
        if v not in a["annotations"].get(k, ""):
            problems.append(f"annotation {k}={a['annotations'].get(k)!r} lacks {v!r}")
    if "receiver_path" in opts and h["path"] != opts["receiver_path"]:
        problems.append(f"delivered to {h['path']}, expected {opts['receiver_path']}")
    for k, v in a["annotations"].items():
        if "<no value>" in v:
            problems.append(f"annotation {k} has <no value>: {v}")
    if problems:
        sys.exit(f"e2e: {status} {alertname} payload wrong: " + "; ".join(problems) + "\n" + json.dumps(a, indent=1))
    print(f"  {status} {alertname} via {h['path']} at +{h['time'] - since:.1f}s: labels {json.dumps(a['labels'], sort_keys=True)}")
    if status == "firing" and annotations:
        for k in ("summary", "description", "runbook_url"):
            print(f"    {k}: {a['annotations'].get(k)}")
    print(f"{h['time']:.3f}", file=sys.stderr)
elif cmd == "suppressed":  # suppressed PROM AM ALERTNAME label=value...: firing in Prometheus, suppressed (inhibited) in Alertmanager
    prom, am, alertname = sys.argv[2], sys.argv[3], sys.argv[4]
    labels, _, _ = split(sys.argv[5:])
    def check():
        firing = [a for a in active(prom) if a["state"] == "firing" and a["labels"]["alertname"] == alertname
                  and all(a["labels"].get(k) == v for k, v in labels.items())]
        if not firing:
            return None
        filt = [f'alertname="{alertname}"'] + [f'{k}="{v}"' for k, v in labels.items()]
        got = get(f"{am}/api/v2/alerts?" + urllib.parse.urlencode([("filter", f) for f in filt]))
        sup = [a for a in got if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]
        return (firing, sup) if sup and len(sup) == len(got) else None
    firing, sup = until(WAIT, check, f"{alertname} {labels} firing in Prometheus and inhibited in Alertmanager")
    print(f"  {alertname} {labels}: {len(firing)} firing in Prometheus, all suppressed in Alertmanager (inhibited by {len(sup[0]['status']['inhibitedBy'])} alert)")
elif cmd == "never":  # never FILE ALERTNAME label=value... [since=EPOCH]: no firing notification of it reached the webhook
    path, alertname = sys.argv[2], sys.argv[3]
    labels, _, opts = split(sys.argv[4:])
    got = list(matching(path, "firing", alertname, labels, float(opts.get("since", 0))))
    if got:
        sys.exit(f"e2e: {alertname} {labels} reached the webhook although inhibited: {json.dumps(got[0][1]['labels'])}")
    print(f"  {alertname} {labels}: never notified")
elif cmd == "prom-alerts":  # prom-alerts BASE: print firing/pending alerts
    for a in sorted(active(sys.argv[2]), key=lambda a: a["labels"]["alertname"]):
        l = a["labels"]
        print(f"  {a['state']:<8} {l['alertname']:<32} " + " ".join(f"{k}={l[k]}" for k in ("job", "target", "component") if k in l))
EOF
# Long waits run in the background and are waited for, so a signal reaches the trap at once.
check() { python3 "$WORK/check.py" "$@" & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=""; return "$rc"; }
# expect ... : like check expect, and sets GOT to the webhook's receive time.
expect() { if ! check expect "$@" 2>"$WORK/got"; then cat "$WORK/got" >&2; return 1; fi; GOT=$(tail -n 1 "$WORK/got"); }
: >"$WORK/timings.tsv"
timing() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(elapsed "$3" "$4")" "$(elapsed "$5" "$6")" >>"$WORK/timings.tsv"; }

check scraped "$PROM"
log "first scrapes in ($(elapsed "$T_PROM")s after Prometheus was ready)"
check rules-ok "$PROM"
check healthy "$PROM"
log "healthy stack, no alert active"

# Dashboards, phase 1: everything healthy.
: >"$WORK/dashboard-data.jsonl"
scripts/lint-dashboards --prometheus "$PROM" --record "$WORK/dashboard-data.jsonl"
echo
scripts/lint-dashboards --prometheus "$PROM" --summary infraprobe-overview
echo

# 1. redis-server stopped: one page; the consequences are inhibited.
stop_redis
T1=$EPOCHREALTIME
log "fault 1: redis-server stopped"
expect "$WORK/webhook.jsonl" firing InfraprobeTargetDown \
  receiver_path=/pager severity=critical job=infraprobe instance=redis-main target=redis-main prober=redis \
  component=service_running since="$T1" \
  'summary~A probed service is not running.' \
  'description~redis target redis-main fails its service_running check (reason: connection_refused)' \
  'runbook_url~docs/runbooks.md#infraprobetargetdown'
F1=$GOT
check suppressed "$PROM" "$AM" InfraprobeComponentDown target=redis-main component=basic_operations
check suppressed "$PROM" "$AM" InfraprobeTargetDegraded target=redis-main
echo "Prometheus alerts now:"; check prom-alerts "$PROM"
# Dashboards, phase 2: a target down (fills the failing-components tables and alert counters).
sleep 1
scripts/lint-dashboards --prometheus "$PROM" --record "$WORK/dashboard-data.jsonl"
echo
scripts/lint-dashboards --prometheus "$PROM" --summary infraprobe-overview
echo
start_redis
T1R=$EPOCHREALTIME
log "redis-server restarted"
expect "$WORK/webhook.jsonl" resolved InfraprobeTargetDown receiver_path=/pager target=redis-main component=service_running since="$T1R"
timing InfraprobeTargetDown "redis-main (redis-server stopped)" "$T1" "$F1" "$T1R" "$GOT"
sleep 2   # a leaked consequence would be flushed within group_interval (1 s)
check never "$WORK/webhook.jsonl" InfraprobeComponentDown target=redis-main
check never "$WORK/webhook.jsonl" InfraprobeTargetDegraded target=redis-main

# 2. Four independent faults at once: redis-main refuses writes (5 of 7 components fail), the
# module job's Redis refuses stream commands (1 of 7), the collector drops spans, the config
# file breaks.
T2=$EPOCHREALTIME
redis-cli -p "$REDIS_PORT" ACL SETUSER default -@write >/dev/null
redis-cli -p "$REDIS2_PORT" ACL SETUSER default -@stream >/dev/null
control otel drop
echo 'targets: [this is not a mapping' >"$WORK/infraprobe.yml"
kill -HUP "$IP_PID"
log "faults 2-5: redis ACLs without writes / streams, collector drops spans, broken config reloaded"
expect "$WORK/webhook.jsonl" firing InfraprobeTargetDegraded receiver_path=/tickets severity=warning \
  target=redis-main prober=redis since="$T2" \
  'summary~A probed service has several failing components.' 'description~redis target redis-main passes only 28.57%'
F_DEG=$GOT
expect "$WORK/webhook.jsonl" firing InfraprobeComponentDown receiver_path=/tickets severity=warning \
  job=infraprobe-redis target="127.0.0.1:$REDIS2_PORT" prober=redis component=stream_operations since="$T2" \
  'summary~A component check of a probed service is failing.' 'description~Component stream_operations of redis target 127.0.0.1:'
F_COMP=$GOT
expect "$WORK/webhook.jsonl" firing InfraprobePipelineLinkBroken receiver_path=/tickets severity=warning \
  target=trace-flows component=trace_via_collector link_collector=otel link_tempo=tempo since="$T2" \
  'summary~Data stops between two services.' 'description~at hop collector_export' 'description~it crosses collector otel, tempo tempo.'
F_PIPE=$GOT
expect "$WORK/webhook.jsonl" firing InfraprobeConfigReloadFailed receiver_path=/tickets severity=warning \
  job=infraprobe-exporter since="$T2" 'summary~infraprobe failed to reload its configuration.'
F_CFG=$GOT
check suppressed "$PROM" "$AM" InfraprobeComponentDown target=redis-main component=basic_operations
echo "Prometheus alerts now:"; check prom-alerts "$PROM"
# Dashboards, phase 3: a degraded target and a broken pipeline link.
scripts/lint-dashboards --prometheus "$PROM" --record "$WORK/dashboard-data.jsonl"
T2R=$EPOCHREALTIME
redis-cli -p "$REDIS_PORT" ACL SETUSER default +@all >/dev/null
redis-cli -p "$REDIS2_PORT" ACL SETUSER default +@all >/dev/null
control otel nodrop
cp "$WORK/infraprobe.yml.good" "$WORK/infraprobe.yml"
kill -HUP "$IP_PID"
log "faults 2-5 repaired"
expect "$WORK/webhook.jsonl" resolved InfraprobeTargetDegraded target=redis-main since="$T2R"
timing InfraprobeTargetDegraded "redis-main (ACL -@write)" "$T2" "$F_DEG" "$T2R" "$GOT"
expect "$WORK/webhook.jsonl" resolved InfraprobeComponentDown job=infraprobe-redis component=stream_operations since="$T2R"
timing InfraprobeComponentDown "module target, stream_operations (ACL -@stream)" "$T2" "$F_COMP" "$T2R" "$GOT"
expect "$WORK/webhook.jsonl" resolved InfraprobePipelineLinkBroken target=trace-flows component=trace_via_collector since="$T2R"
timing InfraprobePipelineLinkBroken "trace-flows/trace_via_collector (collector drops spans)" "$T2" "$F_PIPE" "$T2R" "$GOT"
expect "$WORK/webhook.jsonl" resolved InfraprobeConfigReloadFailed job=infraprobe-exporter since="$T2R"
timing InfraprobeConfigReloadFailed "infraprobe (broken config, SIGHUP)" "$T2" "$F_CFG" "$T2R" "$GOT"
sleep 2
check never "$WORK/webhook.jsonl" InfraprobeComponentDown target=redis-main

# 6. The Tempo fake down: its TargetDown pages; the pipeline component crossing Tempo is inhibited.
T5=$EPOCHREALTIME
control tempo down
log "fault 6: tempo fake down"
expect "$WORK/webhook.jsonl" firing InfraprobeTargetDown receiver_path=/pager target=tempo prober=tempo link_tempo=tempo since="$T5"
F5=$GOT
check suppressed "$PROM" "$AM" InfraprobePipelineLinkBroken target=trace-flows component=trace_via_collector link_tempo=tempo
check suppressed "$PROM" "$AM" InfraprobeComponentDown target=tempo component=trace_ingest
T5R=$EPOCHREALTIME
control tempo up
log "tempo fake back"
expect "$WORK/webhook.jsonl" resolved InfraprobeTargetDown target=tempo since="$T5R"
timing InfraprobeTargetDown "tempo (fake down)" "$T5" "$F5" "$T5R" "$GOT"
sleep 2
check never "$WORK/webhook.jsonl" InfraprobePipelineLinkBroken target=trace-flows since="$T5"
check never "$WORK/webhook.jsonl" InfraprobeComponentDown target=tempo

# 7. infraprobe killed: every job it serves is down, module job included, in one notification.
T6=$EPOCHREALTIME
kill "$IP_PID"; wait "$IP_PID" 2>/dev/null || true
log "fault 7: infraprobe stopped"
for job in infraprobe infraprobe-redis infraprobe-exporter; do
  expect "$WORK/webhook.jsonl" firing InfraprobeExporterDown receiver_path=/pager severity=critical job="$job" since="$T6" \
    'summary~Prometheus cannot scrape infraprobe.'
done
F6=$GOT
T6R=$EPOCHREALTIME
start_infraprobe
log "infraprobe restarted"
for job in infraprobe infraprobe-redis infraprobe-exporter; do
  expect "$WORK/webhook.jsonl" resolved InfraprobeExporterDown job="$job" since="$T6R"
done
timing InfraprobeExporterDown "every job, module job included (infraprobe killed)" "$T6" "$F6" "$T6R" "$GOT"

echo "Every dashboard panel query returned data (union of the healthy and failing phases):"
scripts/lint-dashboards --require-data "$WORK/dashboard-data.jsonl" | tail -n 1
# --require-data exits non-zero (and lists the empty queries) if any query never had data.
scripts/lint-dashboards --require-data "$WORK/dashboard-data.jsonl" >/dev/null

echo
echo "Alert timings (fault injected -> webhook), for: divided by $DIVISOR, 1 s scrape/eval/group_interval:"
python3 - "$WORK/timings.tsv" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"| {'alert':<30} | {'fault':<55} | {'fire s':>6} | {'resolve s':>9} |")
print(f"|{'-' * 32}|{'-' * 57}|{'-' * 8}|{'-' * 11}|")
for a, what, fire, res in rows:
    print(f"| {a:<30} | {what:<55} | {fire:>6} | {res:>9} |")
EOF
log "e2e passed, total $(elapsed "$T0")s"

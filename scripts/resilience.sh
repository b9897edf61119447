#!/usr/bin/env bash
# Resilience scenario: break and restore each service in turn against real processes, all on
# 127.0.0.1, and measure how fast the shipped rules notice and forget:
#   redis-server + infraprobe-fakes (Consul, ArangoDB, Tempo, Grafana, OTel collector, linked like
#   a real deployment, with a control endpoint)  <-  infraprobe  <-  Prometheus
#   (examples/prometheus.yml with every target of the fakes' config, 1 s scrape and evaluation
#   intervals, alerts/infraprobe.rules.yml)  ->  Alertmanager (examples/alertmanager.yml, whose
#   inhibit rules decide which firing alerts would notify; its webhooks lead nowhere).
# Faults, one at a time: redis-server stopped and restarted; each fake's ports closed and reopened
# (POST /<fake>/down|up on the control endpoint); the collector dropping spans (a broken pipeline
# link while both ends are up). Per fault the script records the time from the fault until
# Prometheus shows infraprobe_component_up == 0, until the expected alert is firing in
# /api/v1/alerts, and from the repair until that alert is gone (resolved) and nothing is pending
# or firing any more (InfraprobeComponentFlapping aside: its 10-minute window is not scaled, so
# a component that several faults touch keeps it firing for the rest of the run; it is listed
# under "other alerts"; consequences that Alertmanager inhibits, such as the ComponentDown alerts
# of a target that is down, are not listed). It prints the table and fails if a fault is not
# detected or an alert does not resolve within RES_WAIT seconds (default 60), or if an
# InfraprobePipelineLinkBroken would notify (is not inhibited) while an end of the link is down.
#
# `for:` durations: divided by RES_FOR_DIVISOR (default 30, as scripts/e2e.sh does: TargetDown
# 2m -> 4s, PipelineLinkBroken 5m -> 10s); expressions, labels and annotations are the shipped
# ones. The measured "alert firing" time is therefore detection + the scaled `for:` + one
# evaluation; with the real rules add the difference (e.g. +116 s for TargetDown).
# Scrape timeout 1 s means infraprobe answers within 0.5 s (its 0.5 s offset); the probe those
# scrapes share runs on to the target's own timeout (10 s by default), and a component it has not
# finished by a scrape's deadline shows as timeout in that answer. So the pipeline's wait for a span
# ends a probe up to 10 s after the collector is repaired: its "repair → resolved" is about 10 s.
#
# Every process this script starts is stopped by its pid on exit. KEEP_RES_DIR=1 keeps the
# temporary directory (logs, rendered configs, results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIVISOR=${RES_FOR_DIVISOR:-30}
export RES_WAIT=${RES_WAIT:-60}
BIN=.build/debug/infraprobe
FAKES=.build/debug/infraprobe-fakes
[ -x "$BIN" ] || swift build
[ -x "$FAKES" ] || swift build --product infraprobe-fakes
HARNESS_NAME=resilience
KEEP_DIR=${KEEP_RES_DIR:-0}
source scripts/lib/harness.sh
require_tools redis-server redis-cli prometheus prometheus-alertmanager amtool promtool python3 curl

REDIS_PORT=$(free_port); IP_PORT=$(free_port); PROM_PORT=$(free_port); CTL_PORT=$(free_port)
AM_PORT=$(free_port); NOWHERE_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
AM=http://127.0.0.1:$AM_PORT
CTL=http://127.0.0.1:$CTL_PORT
log "ports: redis $REDIS_PORT, infraprobe $IP_PORT, prometheus $PROM_PORT, alertmanager $AM_PORT, fakes control $CTL_PORT; dir $WORK"


start_redis
"$FAKES" --config-out "$WORK/infraprobe.yml" --redis "127.0.0.1:$REDIS_PORT" --control "127.0.0.1:$CTL_PORT" >"$WORK/fakes.log" 2>&1 &
PIDS+=($!)
deadline=$(( SECONDS + 20 ))
until [ -s "$WORK/infraprobe.yml" ]; do
  [ $SECONDS -lt $deadline ] || { echo "resilience: infraprobe-fakes did not start" >&2; exit 1; }
  sleep 0.1
done
TARGETS=$(python3 -c 'import re, sys; print(" ".join(re.findall(r"^  ([A-Za-z0-9_-]+):$", open(sys.argv[1]).read(), re.M)))' "$WORK/infraprobe.yml")
log "targets: $TARGETS"

"$BIN" --config.file "$WORK/infraprobe.yml" --web.listen-address "127.0.0.1:$IP_PORT" >"$WORK/infraprobe.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$IP_PORT/-/healthy" 20 "$!"

# The shipped Prometheus and Alertmanager configs and rules: this run's ports and targets, 1 s
# timings, for: divided by DIVISOR. Alerts are read from Prometheus' /api/v1/alerts; whether one
# would notify, from Alertmanager's /api/v2/alerts (inhibited or not). Nothing listens on the
# webhook port: notifications fail, which does not matter here.
render_prometheus "$DIVISOR" "$IP_PORT" "$TARGETS" "$AM_PORT"
render_alertmanager "$NOWHERE_PORT"

mkdir -p "$WORK/prom-data" "$WORK/am-data"
prometheus-alertmanager --config.file "$WORK/alertmanager.yml" --storage.path "$WORK/am-data" \
  --web.listen-address "127.0.0.1:$AM_PORT" --cluster.listen-address= >"$WORK/alertmanager.log" 2>&1 &
PIDS+=($!)
wait_http "$AM/-/ready" 30 "$!"
prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/prom-data" \
  --web.listen-address "127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "$PROM/-/ready" 30 "$!"
log "prometheus ready"

cat >"$WORK/measure.py" <<'PYMEASURE'
import json, os, sys, time, urllib.parse, urllib.request
WAIT = float(os.environ.get("RES_WAIT", "60"))
def q(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
def alerts(base):
    return json.load(urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5))["data"]["alerts"]
def notifying(am):  # alerts Alertmanager would notify: active, neither inhibited nor silenced
    url = f"{am}/api/v2/alerts?active=true&inhibited=false&silenced=false&unprocessed=false"
    return json.load(urllib.request.urlopen(url, timeout=5))
def matches(a, name, labels):
    return a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())
def until(what, fn, start):
    while time.time() - start < WAIT:
        try:
            if fn():
                return round(time.time() - start, 1)
        except Exception:
            pass
        time.sleep(0.2)
    active = [(a["state"], a["labels"]) for a in alerts(base)]
    failing = [s["metric"] for s in q(base, "infraprobe_component_up == 0")]
    sys.exit(f"resilience: {what} not seen within {WAIT:.0f}s; active alerts: {active}; failing components: {failing}")
cmd, base = sys.argv[1], sys.argv[2]
if cmd == "healthy":  # every target scraped, every component up, no alert pending or firing
    targets = sys.argv[3].split()
    start = time.time()
    def ok():
        up = q(base, "infraprobe_component_up")
        seen = {s["metric"]["target"] for s in up}
        return seen >= set(targets) and all(s["value"][1] == "1" for s in up) and not alerts(base)
    t = until("all targets healthy with no alerts", ok, start)  # before any fault: nothing may flap
    print(f"all {len(targets)} targets healthy, no alerts ({t}s)")
elif cmd == "fault":  # fault BASE AM T_FAULT TARGET COMPONENT ALERT label=value... [--forbid ALERT]
    am = sys.argv[3]
    t_fault, target, component, alert = float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
    rest = sys.argv[8:]
    forbid = rest[rest.index("--forbid") + 1:] if "--forbid" in rest else []
    labels = dict(kv.split("=", 1) for kv in (rest[:rest.index("--forbid")] if "--forbid" in rest else rest))
    sel = f'infraprobe_component_up{{target="{target}",component="{component}"}} == 0'
    down = until(f"{target}/{component} up == 0", lambda: q(base, sel), t_fault)
    def firing():
        return any(matches(a, alert, labels) and a["state"] == "firing" for a in alerts(base))
    fired = until(f"{alert} {labels} firing", firing, t_fault)
    until(f"{alert} {labels} at Alertmanager", lambda: any(matches(a, alert, labels) for a in notifying(am)), t_fault)
    # Let an alert that must stay silent have its full for: to show up, then look once more.
    time.sleep(float(os.environ.get("RES_FORBID_GRACE", "0")))
    loud = notifying(am)
    seen_forbidden = [a["labels"] for a in loud if a["labels"]["alertname"] in forbid]
    others = sorted({a["labels"]["alertname"] + ("/" + a["labels"]["target"] + "/" + a["labels"]["component"] if "component" in a["labels"] else "")
                     for a in loud if not matches(a, alert, labels)})
    print(json.dumps({"down": down, "fired": fired, "others": others, "forbidden": seen_forbidden}))
elif cmd == "recover":  # recover BASE T_REPAIR ALERT label=value...: the alert gone, then nothing active
    t_repair, alert = float(sys.argv[3]), sys.argv[4]
    labels = dict(kv.split("=", 1) for kv in sys.argv[5:])
    resolved = until(f"{alert} {labels} resolved", lambda: not any(matches(a, alert, labels) for a in alerts(base)), t_repair)
    # InfraprobeComponentFlapping looks at 10 minutes of changes (not scaled): a component that
    # several faults in a row touch (flows/service_discovery follows Redis and Consul) rightly
    # flaps for the rest of the run, so it does not count against "quiet".
    quiet = until("no alert pending or firing", lambda: not [a for a in alerts(base) if a["labels"]["alertname"] != "InfraprobeComponentFlapping"]
                  and not q(base, "infraprobe_component_up == 0"), t_repair)
    print(json.dumps({"resolved": resolved, "quiet": quiet}))
PYMEASURE
measure() { python3 "$WORK/measure.py" "$@" & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=""; return "$rc"; }
control() { curl -fsS -X POST "$CTL/$1/$2" >/dev/null; }

measure healthy "$PROM" "$TARGETS"
log "baseline healthy"

: >"$WORK/results.jsonl"
# scenario NAME FAULT-DESCRIPTION BREAK-CMD REPAIR-CMD TARGET COMPONENT ALERT [label=value...] [--forbid ALERT]
scenario() {
  local name=$1 what=$2 break_cmd=$3 repair_cmd=$4 target=$5 component=$6 alert=$7
  shift 7
  local labels=() forbid=()
  while [ $# -gt 0 ]; do
    if [ "$1" = --forbid ]; then forbid=("$@"); break; fi
    labels+=("$1"); shift
  done
  local t_fault t_repair fault recover
  t_fault=$EPOCHREALTIME
  $break_cmd
  fault=$(measure fault "$PROM" "$AM" "$t_fault" "$target" "$component" "$alert" "${labels[@]}" "${forbid[@]}")
  t_repair=$EPOCHREALTIME
  $repair_cmd
  recover=$(measure recover "$PROM" "$t_repair" "$alert" "${labels[@]}")
  python3 -c 'import json, sys; r = {"service": sys.argv[1], "fault": sys.argv[2], "alert": sys.argv[3], **json.loads(sys.argv[4]), **json.loads(sys.argv[5])}; print(json.dumps(r))' \
    "$name" "$what" "$alert" "$fault" "$recover" >>"$WORK/results.jsonl"
  log "$name: $(tail -n 1 "$WORK/results.jsonl")"
}

NO_LINK=(--forbid InfraprobePipelineLinkBroken)
# For faults where an end of a pipeline link is down, give the link alert its full (scaled) for:
# to appear before checking that it stayed silent.
export RES_FORBID_GRACE=0
scenario redis "redis-server stopped" stop_redis start_redis \
  redis service_running InfraprobeTargetDown target=redis
export RES_FORBID_GRACE=$(( 300 / DIVISOR ))
scenario consul "ports closed" "control consul down" "control consul up" \
  consul service_running InfraprobeTargetDown target=consul "${NO_LINK[@]}"
export RES_FORBID_GRACE=0
scenario arangodb "ports closed" "control arangodb down" "control arangodb up" \
  arangodb service_running InfraprobeTargetDown target=arangodb
export RES_FORBID_GRACE=$(( 300 / DIVISOR ))
scenario tempo "ports closed" "control tempo down" "control tempo up" \
  tempo service_running InfraprobeTargetDown target=tempo "${NO_LINK[@]}"
scenario grafana "ports closed" "control grafana down" "control grafana up" \
  grafana service_running InfraprobeTargetDown target=grafana "${NO_LINK[@]}"
scenario otel "ports closed" "control otel down" "control otel up" \
  otel service_running InfraprobeTargetDown target=otel "${NO_LINK[@]}"
export RES_FORBID_GRACE=0
scenario "pipeline (otel -> tempo)" "collector drops spans" "control otel drop" "control otel nodrop" \
  flows trace_via_collector InfraprobePipelineLinkBroken target=flows component=trace_via_collector

python3 - "$WORK/results.jsonl" "$DIVISOR" <<'PYTABLE'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\nResilience (1 s scrape/eval, for: divided by {sys.argv[2]}; seconds):\n")
print("| service | fault | alert | fault → component_up 0 | fault → alert firing | repair → alert resolved | repair → all quiet | other alerts firing |")
print("|---|---|---|---:|---:|---:|---:|---|")
for r in rows:
    print(f"| {r['service']} | {r['fault']} | {r['alert']} | {r['down']} | {r['fired']} | {r['resolved']} | {r['quiet']} | {', '.join(r['others']) or '-'} |")
bad = [r for r in rows if r["forbidden"]]
if bad:
    sys.exit("resilience: InfraprobePipelineLinkBroken would notify while an end of the link was down: "
             + "; ".join(f"{r['service']}: {r['forbidden']}" for r in bad))
PYTABLE
log "resilience passed: ${#PIDS[@]} processes + redis-server, total $(elapsed "$T0")s"

# Shared by scripts/e2e.sh and scripts/resilience.sh: a work directory, cleanup of every process
# the script started (by pid) on exit, timing and port helpers. Source it after setting
# HARNESS_NAME (used in messages and the work directory's name) and KEEP_DIR (1 keeps the
# directory). Scripts add the pids they start to PIDS; REDIS_PID and CHILD are stopped too.
# shellcheck shell=bash

T0=$EPOCHREALTIME
WORK=$(mktemp -d "${TMPDIR:-/tmp}/infraprobe-$HARNESS_NAME.XXXXXX")
PIDS=()
REDIS_PID=""
CHILD=""

harness_cleanup() {
  local rc=$?
  [ -z "$CHILD" ] || kill "$CHILD" 2>/dev/null || true
  for pid in ${REDIS_PID:+"$REDIS_PID"} "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in ${REDIS_PID:+"$REDIS_PID"} "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    echo "$HARNESS_NAME: FAILED (rc=$rc); last lines of the logs in $WORK:" >&2
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  if [ "${KEEP_DIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then echo "$HARNESS_NAME: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap harness_cleanup EXIT
trap "exit 130" INT TERM HUP

elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "${2:-$EPOCHREALTIME}"; }
log() { echo "[$(elapsed "$T0")s] $*"; }
# A free port below the kernel's ephemeral range, so that no process binding port 0 (the fakes,
# curl, the services under test) can take it between this pick and the listener's start; ports
# already handed out in this run (listed in $WORK/.ports) are never handed out twice.
free_port() {
  python3 - "$WORK/.ports" <<'PYPORT'
import os, random, socket, sys
taken = set(open(sys.argv[1]).read().split()) if os.path.exists(sys.argv[1]) else set()
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(max(1024, low - 12000), low)
    if str(port) in taken:
        continue
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    open(sys.argv[1], "a").write(f"{port}\n")
    print(port)
    break
else:
    sys.exit("no free port below the ephemeral range")
PYPORT
}
wait_http() { # url timeout [pid]: with a pid, also fails at once when that process has exited
  local deadline=$(( SECONDS + $2 ))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$HARNESS_NAME: $1 not up after $2 s" >&2; return 1; }
    [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || { echo "$HARNESS_NAME: the process for $1 exited" >&2; return 1; }
    sleep 0.2
  done
  # An answer from some other process on the port does not count.
  [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || { echo "$HARNESS_NAME: the process for $1 exited" >&2; return 1; }
}
require_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$HARNESS_NAME: missing $tool (scripts/install-deps installs it)" >&2; exit 1; }
  done
}

# redis-server in the foreground of a background job (so REDIS_PID is its pid), on REDIS_PORT,
# listening on REDIS_BIND (default 127.0.0.1; several loopback addresses give one server several
# addresses, e.g. "127.0.0.1 127.0.0.2").
start_redis() {
  local bind
  read -r -a bind <<<"${REDIS_BIND:-127.0.0.1}"
  redis-server --port "$REDIS_PORT" --bind "${bind[@]}" --save '' --appendonly no --maxmemory 64mb \
    --dir "$WORK" --daemonize no >>"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  local deadline=$(( SECONDS + 10 ))
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "$HARNESS_NAME: redis-server did not start" >&2; return 1; }
    sleep 0.1
  done
}
stop_redis() { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }

# The shipped Prometheus config and rules for this run (see scripts/lib/render-prometheus.py):
#   render_prometheus DIVISOR INFRAPROBE_PORT "TARGET ..." [ALERTMANAGER_PORT]
render_prometheus() {
  python3 scripts/lib/render-prometheus.py "$(pwd)" "$WORK" "$@"
  promtool check config "$WORK/prometheus.yml" >/dev/null
  log "rules rendered with for: divided by $1: $(grep -E '^\s+for:' "$WORK/infraprobe.rules.yml" | awk '{print $2}' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
}

# The shipped Alertmanager config for this run: 1 s grouping, webhooks at 127.0.0.1:HOOK_PORT
# (the example's /pager, /tickets paths kept). Writes WORK/alertmanager.yml.
#   render_alertmanager HOOK_PORT
render_alertmanager() {
  python3 - "$(pwd)" "$WORK" "$1" <<'EOF'
import sys
repo, work, hook_port = sys.argv[1:]
def sub(text, old, new):
    assert old in text, f"render: {old!r} not found"
    return text.replace(old, new)
a = open(f"{repo}/examples/alertmanager.yml").read()
a = sub(a, "group_wait: 30s", "group_wait: 1s")
a = sub(a, "group_interval: 5m", "group_interval: 1s")
a = sub(a, "http://127.0.0.1:5001/", f"http://127.0.0.1:{hook_port}/")
open(f"{work}/alertmanager.yml", "w").write(a)
EOF
  amtool check-config "$WORK/alertmanager.yml" >/dev/null 2>&1 || { amtool check-config "$WORK/alertmanager.yml"; return 1; }
}

#!/usr/bin/env bash
# Benchmark (not a test): infraprobe's /probe (7 functional Redis checks) against redis_exporter's
# multi-target /scrape (statistics only), both on the same redis-server in the same run, so the
# ratios hold on a noisy machine. Every request names a different target than the ones in
# flight (N named targets over 16 loopback addresses of one redis-server, the same addresses for
# redis_exporter), so no request joins another's probe: each one is a probe of its own.
# Prints, for both and as ratios:
#   - p50 / p99 latency of sequential scrapes, the two exporters alternating;
#   - CPU per probe (the exporter process's user+system time over those scrapes / their count);
#   - req/s under `wrk -c 4` over distinct targets, and the probes infraprobe actually ran per
#     request (1.00 = no joins);
#   - RSS after the load.
# Goals (issue 13): median latency <= 0.35x, CPU per probe <= 0.35x redis_exporter's.
# Loopback only; stops what it starts.
#   scripts/bench-redis.sh [scrapes=500] [wrk_seconds=10] [targets=64]   INFRAPROBE_BIN=path skips the build
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${1:-500}
WRK_SECONDS=${2:-10}
TARGETS=${3:-64}
ADDRESSES=16   # redis.conf allows at most 16 bind addresses
command -v wrk >/dev/null && command -v prometheus-redis-exporter >/dev/null && command -v redis-server >/dev/null \
  || { echo "needs redis-server, wrk and prometheus-redis-exporter (scripts/install-deps)"; exit 1; }
if [ -z "${INFRAPROBE_BIN:-}" ]; then
  scripts/build-release >/dev/null
  INFRAPROBE_BIN=.build/release/infraprobe
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }

redis_port=$(free_port)
binds=$(seq -f '127.0.0.%g' 1 "$ADDRESSES" | tr '\n' ' ')
# shellcheck disable=SC2086
redis-server --port "$redis_port" --bind $binds --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/redis.pid")")

address() { echo "127.0.0.$(($1 % ADDRESSES + 1)):$redis_port"; }
{
  echo "targets:"
  for i in $(seq 0 $((TARGETS - 1))); do
    printf '  t%d: {prober: redis, address: "%s"}\n' "$i" "$(address "$i")"
  done
} >"$work/infraprobe.yml"
probe_port=$(free_port)
"$INFRAPROBE_BIN" --config.file "$work/infraprobe.yml" --web.listen-address "127.0.0.1:$probe_port" --log.level error &
pids+=($!); infraprobe_pid=$!
exporter_port=$(free_port)
prometheus-redis-exporter -web.listen-address "127.0.0.1:$exporter_port" 2>"$work/exporter.log" &
pids+=($!); exporter_pid=$!

wait_http "http://127.0.0.1:$probe_port/-/healthy"; wait_http "http://127.0.0.1:$exporter_port/health"
curl -s "http://127.0.0.1:$probe_port/probe?target=t1" | grep -q '^probe_success{target="t1"} 1' || { echo "infraprobe probe is not healthy"; exit 1; }
curl -s "http://127.0.0.1:$exporter_port/scrape?target=redis://$(address 1)" | grep -q '^redis_up 1' || { echo "redis_exporter is not healthy"; exit 1; }

# Sequential keep-alive scrapes, alternating, each to the next target; CPU from /proc/PID/stat.
read -r ip_p50 ip_p99 ex_p50 ex_p99 ip_cpu ex_cpu <<<"$(python3 - "$probe_port" "$exporter_port" "$SCRAPES" "$TARGETS" "$ADDRESSES" "$redis_port" "$infraprobe_pid" "$exporter_pid" <<'PY'
import http.client, os, statistics, sys, time
probe_port, exporter_port, n, targets, addresses, redis_port, ip_pid, ex_pid = map(int, sys.argv[1:9])
a = http.client.HTTPConnection("127.0.0.1", probe_port)
b = http.client.HTTPConnection("127.0.0.1", exporter_port)
def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
def scrape(conn, path):
    t = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); r.read()
    assert r.status == 200, (path, r.status)
    return time.perf_counter() - t
probe = lambda i: f"/probe?target=t{i % targets}"
scrape_path = lambda i: f"/scrape?target=redis://127.0.0.{i % targets % addresses + 1}:{redis_port}"
for i in range(2 * targets): scrape(a, probe(i)); scrape(b, scrape_path(i))
ta, tb = [], []
ca, cb = cpu(ip_pid), cpu(ex_pid)
for i in range(n):
    ta.append(scrape(a, probe(i))); tb.append(scrape(b, scrape_path(i)))
ca, cb = cpu(ip_pid) - ca, cpu(ex_pid) - cb
q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1] * 1000
print(q(ta, 50), q(ta, 99), q(tb, 50), q(tb, 99), ca / n * 1000, cb / n * 1000)
PY
)"

# Throughput over distinct targets: wrk's two threads start half the target list apart and
# each request takes its thread's next target, so the four requests in flight never share one.
cat >"$work/distinct.lua" <<LUA
local targets, addresses, port, kind = $TARGETS, $ADDRESSES, $redis_port, os.getenv("BENCH_KIND")
local threads = 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
function init(args) i = id * math.floor(targets / 2) end
function request()
  i = i + 1
  local t = i % targets
  if kind == "infraprobe" then return wrk.format("GET", "/probe?target=t" .. t) end
  return wrk.format("GET", "/scrape?target=redis://127.0.0." .. (t % addresses + 1) .. ":" .. port)
end
LUA
probes_run() { curl -s "http://127.0.0.1:$probe_port/metrics" | awk '/^infraprobe_probes_total\{/ {s += $NF} END {print s + 0}'; }
rps() { BENCH_KIND=$1 wrk -t 2 -c 4 -d "${WRK_SECONDS}s" -s "$work/distinct.lua" "$2" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx: " $0 > "/dev/stderr"}'; }
before=$(probes_run)
start=$EPOCHREALTIME
ip_rps=$(rps infraprobe "http://127.0.0.1:$probe_port")
end=$EPOCHREALTIME
after=$(probes_run)
ex_rps=$(rps redis_exporter "http://127.0.0.1:$exporter_port")
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ip_rss=$(rss_kib "$infraprobe_pid"); ex_rss=$(rss_kib "$exporter_pid")
keys=$(redis-cli -p "$redis_port" dbsize)

python3 - "$ip_p50" "$ip_p99" "$ex_p50" "$ex_p99" "$ip_cpu" "$ex_cpu" "$ip_rps" "$ex_rps" "$ip_rss" "$ex_rss" \
  "$before" "$after" "$start" "$end" "$keys" "$TARGETS" "$SCRAPES" <<'PY'
import sys
ip50, ip99, ex50, ex99, ipcpu, excpu, iprps, exrps, iprss, exrss, before, after, start, end = map(float, sys.argv[1:15])
keys, targets, scrapes = sys.argv[15], sys.argv[16], sys.argv[17]
elapsed = end - start
probes_per_request = (after - before) / (iprps * elapsed) if iprps > 0 else 0
print(f"{targets} distinct targets on one redis-server; {scrapes} sequential scrapes of each exporter, alternating")
print(f"{'':34}{'infraprobe /probe':>20}{'redis_exporter /scrape':>25}{'ratio':>8}")
print(f"{'p50 scrape latency (ms)':34}{ip50:>20.3f}{ex50:>25.3f}{ip50/ex50:>8.2f}   (goal <= 0.35)")
print(f"{'p99 scrape latency (ms)':34}{ip99:>20.3f}{ex99:>25.3f}{ip99/ex99:>8.2f}")
cpu_ratio = f"{ipcpu/excpu:>8.2f}" if excpu > 0 else f"{'n/a':>8}"
print(f"{'CPU per probe (ms, user+sys)':34}{ipcpu:>20.3f}{excpu:>25.3f}{cpu_ratio}   (goal <= 0.35)")
print(f"{'req/s, wrk -c 4, distinct targets':34}{iprps:>20.0f}{exrps:>25.0f}{iprps/exrps:>8.2f}")
print(f"{'RSS after load (MiB)':34}{iprss/1024:>20.1f}{exrss/1024:>25.1f}{iprss/exrss:>8.2f}")
print(f"probes infraprobe ran per request under wrk: {probes_per_request:.2f} (1.00 = no request joined another's probe)")
print(f"keys left in redis after the run: {keys}")
PY

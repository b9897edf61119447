#!/usr/bin/env bash
# Benchmark (not a test): infraprobe's /probe (7 functional Redis checks) against
# redis_exporter's /metrics (statistics only), both scraping the same redis-server in the same
# run, so the ratios are meaningful on a noisy machine. Prints median scrape latency, req/s
# under `wrk -c 4` and RSS of both, and the ratios. Loopback only; stops what it starts.
#   scripts/bench-redis.sh [scrapes=500] [wrk_seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${1:-500}
WRK_SECONDS=${2:-10}
command -v wrk >/dev/null && command -v prometheus-redis-exporter >/dev/null \
  || { echo "needs wrk and prometheus-redis-exporter (scripts/install-deps)"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }

swift build -c release --product infraprobe >/dev/null
bin=$(swift build -c release --show-bin-path)/infraprobe

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/redis.pid")")

probe_port=$(free_port)
cat > "$work/infraprobe.yml" <<YAML
targets:
  bench:
    prober: redis
    address: 127.0.0.1:$redis_port
YAML
"$bin" --config.file "$work/infraprobe.yml" --web.listen-address "127.0.0.1:$probe_port" --log.level error &
pids+=($!); infraprobe_pid=$!

exporter_port=$(free_port)
prometheus-redis-exporter -redis.addr "redis://127.0.0.1:$redis_port" -web.listen-address "127.0.0.1:$exporter_port" 2>"$work/exporter.log" &
pids+=($!); exporter_pid=$!

infraprobe_url="http://127.0.0.1:$probe_port/probe?target=bench"
exporter_url="http://127.0.0.1:$exporter_port/metrics"
wait_http "$infraprobe_url"; wait_http "$exporter_url"
curl -s "$infraprobe_url" | grep -q '^probe_success{target="bench"} 1' || { echo "infraprobe probe is not healthy"; exit 1; }
curl -s "$exporter_url" | grep -q '^redis_up 1' || { echo "redis_exporter is not healthy"; exit 1; }

# Median of sequential keep-alive scrapes, alternating the two so drift hits both alike.
read -r ip_median ex_median single_median <<<"$(python3 - "$probe_port" "$exporter_port" "$SCRAPES" <<'PY'
import http.client, statistics, sys, time
probe_port, exporter_port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
a = http.client.HTTPConnection("127.0.0.1", probe_port)
b = http.client.HTTPConnection("127.0.0.1", exporter_port)
def scrape(conn, path):
    t = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
    return time.perf_counter() - t
for _ in range(20): scrape(a, "/probe?target=bench"); scrape(b, "/metrics")
ta, tb = [], []
for _ in range(n):
    ta.append(scrape(a, "/probe?target=bench")); tb.append(scrape(b, "/metrics"))
print(statistics.median(ta) * 1000, statistics.median(tb) * 1000, 0)
PY
)"

# One component alone, to show the seven run concurrently rather than one after another.
cat > "$work/single.yml" <<YAML
targets:
  bench:
    prober: redis
    address: 127.0.0.1:$redis_port
    components: [basic_operations]
YAML
single_port=$(free_port)
"$bin" --config.file "$work/single.yml" --web.listen-address "127.0.0.1:$single_port" --log.level error &
pids+=($!)
wait_http "http://127.0.0.1:$single_port/probe?target=bench"
single_median=$(python3 - "$single_port" "$SCRAPES" <<'PY'
import http.client, statistics, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1])); t = []
for i in range(int(sys.argv[2]) + 20):
    s = time.perf_counter(); c.request("GET", "/probe?target=bench"); c.getresponse().read()
    if i >= 20: t.append(time.perf_counter() - s)
print(statistics.median(t) * 1000)
PY
)

rps() { wrk -t 2 -c 4 -d "${WRK_SECONDS}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
ip_rps=$(rps "$infraprobe_url")
ex_rps=$(rps "$exporter_url")
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ip_rss=$(rss_kib "$infraprobe_pid"); ex_rss=$(rss_kib "$exporter_pid")
keys=$(redis-cli -p "$redis_port" dbsize)

python3 - "$ip_median" "$ex_median" "$single_median" "$ip_rps" "$ex_rps" "$ip_rss" "$ex_rss" "$keys" <<'PY'
import sys
ipm, exm, single, iprps, exrps, iprss, exrss = map(float, sys.argv[1:8]); keys = sys.argv[8]
print(f"{'':34}{'infraprobe /probe':>20}{'redis_exporter /metrics':>26}{'ratio':>8}")
print(f"{'median scrape latency (ms)':34}{ipm:>20.3f}{exm:>26.3f}{ipm/exm:>8.2f}   (target <= 0.5)")
print(f"{'req/s under wrk -c 4':34}{iprps:>20.0f}{exrps:>26.0f}{iprps/exrps:>8.2f}   (target >= 2)")
print(f"{'RSS after load (MiB)':34}{iprss/1024:>20.1f}{exrss/1024:>26.1f}{iprss/exrss:>8.2f}")
print(f"7 components vs 1 component median: {ipm:.3f} ms vs {single:.3f} ms = {ipm/single:.2f}x (serial would be ~7x)")
print(f"keys left in redis after the run: {keys}")
PY

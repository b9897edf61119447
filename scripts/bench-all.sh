#!/usr/bin/env bash
# Bench (not a test): one infraprobe with all seven probers against a real redis-server and the
# five HTTP fakes (infraprobe-fakes; the pipeline target `flows` crosses them). Does N scrapes of
# /probe (all targets at once) and N of each single target, then prints median/p90 per case and the ratio all / slowest single.
# Probing all targets concurrently should cost about as much as the slowest one (ratio ≈ 1).
# On one 2-core machine that also runs redis, the fakes and the client, CPU is the bottleneck
# and the ratio lands near 2; LATENCY=20ms makes every fake answer after 20 ms, as services
# across a network do, which shows the concurrency itself:
#   SCRAPES=200 BUILD_CONFIG=release [LATENCY=20ms] scripts/bench-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${SCRAPES:-200}
BUILD_CONFIG=${BUILD_CONFIG:-release}

# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
bench_start infraprobe infraprobe-fakes

"$BIN/infraprobe-fakes" --config-out "$work/infraprobe.yml" --redis "127.0.0.1:$redis_port" --latency "${LATENCY:-0ms}" 2>"$work/fakes.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/infraprobe.yml" ] && break; sleep 0.1; done
[ -s "$work/infraprobe.yml" ] || { echo "fakes did not start:"; cat "$work/fakes.log"; exit 1; }

exporter_port=$(free_port)
"$BIN/infraprobe" --config.file "$work/infraprobe.yml" --web.listen-address "127.0.0.1:$exporter_port" \
  --log.level warn 2>"$work/infraprobe.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$exporter_port/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$exporter_port/-/ready" >/dev/null || { echo "infraprobe did not start:"; cat "$work/infraprobe.log"; exit 1; }

echo "infraprobe $BUILD_CONFIG build, $SCRAPES scrapes per case, redis-server $(redis-server --version | grep -o 'v=[0-9.]*'), $(nproc) CPUs"
python3 - "$exporter_port" "$SCRAPES" <<'PY'
import re, statistics, sys, time, urllib.request
port, scrapes = sys.argv[1], int(sys.argv[2])
base = f"http://127.0.0.1:{port}/probe"
cases = [("all", base)] + [(t, f"{base}?target={t}") for t in ["redis", "consul", "arangodb", "tempo", "grafana", "otel", "flows"]]
opener = urllib.request.build_opener()
results = {}
for name, url in cases:
    times, failed = [], 0
    opener.open(url).read()  # warm-up: connections, first probe of each kind
    for _ in range(scrapes):
        start = time.perf_counter()
        body = opener.open(url).read().decode()
        times.append(time.perf_counter() - start)
        down = re.findall(r'^infraprobe_component_up\{[^}]*\} 0$', body, re.M)
        failed += bool(down)
    times.sort()
    results[name] = (statistics.median(times), times[int(len(times) * 0.9) - 1], failed)
print(f"{'case':<10} {'median ms':>10} {'p90 ms':>8} {'scrapes with a failed component':>32}")
for name, (median, p90, failed) in results.items():
    print(f"{name:<10} {median * 1000:>10.2f} {p90 * 1000:>8.2f} {failed:>32}")
slowest = max((v[0], k) for k, v in results.items() if k != "all")
print(f"ratio all / slowest single ({slowest[1]}): {results['all'][0] / slowest[0]:.2f}")
PY

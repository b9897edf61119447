#!/usr/bin/env bash
# Bench (not a test): the landing page's cost at TARGETS targets against its cost at 10. Each
# case is one infraprobe whose targets are redis, half at a real redis-server and half at a
# refused port, all probed once; then ROUNDS rounds fetch every page of `/` (1.1 s apart, so the
# one-second page cache has expired and each fetch renders). Prints median/p90 time and bytes
# per fetch and the ratios big / small: a page bounded by pagination keeps both near 1.
#   TARGETS=1000 ROUNDS=5 BUILD_CONFIG=release scripts/bench-landing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=${TARGETS:-1000}
ROUNDS=${ROUNDS:-5}
BUILD_CONFIG=${BUILD_CONFIG:-release}

# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
bench_start infraprobe

start_exporter() {  # $1: number of targets; sets $port (no subshell: it must record its pid)
  local count=$1 config="$work/infraprobe-$1.yml"
  python3 - "$count" "$redis_port" >"$config" <<'PY'
import sys
count, redis = int(sys.argv[1]), sys.argv[2]
print("timeout: 5s\ntargets:")
for i in range(count):
    print(f"  t{i}:\n    prober: redis\n    address: {'127.0.0.1:' + redis if i % 2 == 0 else '127.0.0.1:1'}")
PY
  port=$(free_port)
  "$BIN/infraprobe" --config.file "$config" --web.listen-address "127.0.0.1:$port" --log.level error \
    2>"$work/infraprobe-$count.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "infraprobe did not start:" >&2; cat "$work/infraprobe-$count.log" >&2; exit 1; }
}

start_exporter 10; small=$port
start_exporter "$TARGETS"; big=$port
echo "infraprobe $BUILD_CONFIG build, $ROUNDS rounds, redis-server $(redis-server --version | grep -o 'v=[0-9.]*'), $(nproc) CPUs"
python3 - "$small" "$big" "$TARGETS" "$ROUNDS" <<'PY'
import re, statistics, sys, time, urllib.request
small, big, targets, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def measure(port):
    base = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(f"{base}/probe", timeout=60).read()   # every target probed once
    first = urllib.request.urlopen(f"{base}/", timeout=10).read().decode()
    pages = int(m.group(1)) if (m := re.search(r"Page 1 of (\d+)", first)) else 1
    times, sizes = [], []
    for _ in range(rounds):
        time.sleep(1.1)
        for page in range(1, pages + 1):
            start = time.perf_counter()
            body = urllib.request.urlopen(f"{base}/?page={page}", timeout=10).read()
            times.append((time.perf_counter() - start) * 1000)
            sizes.append(len(body))
    times.sort()
    return pages, statistics.median(times), times[int(len(times) * 0.9) - 1], statistics.median(sizes)

results = {}
for name, port in [("10 targets", small), (f"{targets} targets", big)]:
    pages, median, p90, size = measure(port)
    results[name] = (median, size)
    print(f"{name:>14}: {pages:3d} page(s), median {median:6.1f} ms, p90 {p90:6.1f} ms, {size / 1024:7.1f} KiB a page")
(small_ms, small_b), (big_ms, big_b) = results.values()
print(f"ratio {targets} / 10 targets: time {big_ms / small_ms:.1f}x, bytes {big_b / small_b:.1f}x")
PY

#!/usr/bin/env bash
# Benchmark (not a test): startup time and idle memory of the release binary (scripts/build-release,
# Swift runtime linked in) against redis_exporter, both configured for the same redis-server.
# In interleaved rounds (A B, B A, ...) each exporter is started and timed until its health
# endpoint first answers (infraprobe /-/healthy, redis_exporter /health); then, before any
# scrape, its RSS 2 s later (idle), and its RSS after 20 scrapes of the same server (infraprobe
# /probe, redis_exporter /metrics). Prints medians and the median of the per-round ratios.
# Goals: startup <= 1.5x, idle RSS <= 1.3x redis_exporter's. Loopback only; stops what it starts.
#   scripts/bench-startup.sh [rounds=15]     INFRAPROBE_BIN=path skips the build
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-15}
command -v prometheus-redis-exporter >/dev/null && command -v redis-server >/dev/null \
  || { echo "needs redis-server and prometheus-redis-exporter (scripts/install-deps)"; exit 1; }
if [ -z "${INFRAPROBE_BIN:-}" ]; then
  scripts/build-release >/dev/null
  INFRAPROBE_BIN=.build/release/infraprobe
fi

work=$(mktemp -d)
redis_pid=""
cleanup() { [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && break; sleep 0.1; done
redis_pid=$(cat "$work/redis.pid")
printf 'targets:\n  bench:\n    prober: redis\n    address: 127.0.0.1:%s\n' "$redis_port" >"$work/infraprobe.yml"

echo "infraprobe: $("$INFRAPROBE_BIN" --version); $(ldd "$INFRAPROBE_BIN" | grep -ciE 'swift|foundation|dispatch') Swift toolchain libraries linked"
python3 - "$INFRAPROBE_BIN" "$work/infraprobe.yml" "$redis_port" "$ROUNDS" <<'PY'
import http.client, os, socket, statistics, subprocess, sys, time
binary, config, redis_port, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def command(name, port):
    if name == "infraprobe":
        return [binary, "--config.file", config, "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"], "/-/healthy", "/probe?target=bench"
    return ["prometheus-redis-exporter", "-redis.addr", f"redis://127.0.0.1:{redis_port}",
            "-web.listen-address", f"127.0.0.1:{port}"], "/health", "/metrics"

def get(port, path, timeout=2):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path); r = c.getresponse(); r.read(); return r.status
    finally:
        c.close()

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def cpu_seconds(pid):
    # Run time of every thread in nanoseconds (schedstat), finer than stat's clock ticks.
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f: total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9

def run(name):
    port = free_port()
    argv, health, scrape = command(name, port)
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if get(port, health, timeout=1) == 200: break
            except OSError:
                pass
            if p.poll() is not None: raise SystemExit(f"{name} exited with {p.returncode}")
            if time.perf_counter() - start > 10: raise SystemExit(f"{name} did not answer {health} in 10 s")
            time.sleep(0.001)
        ready = time.perf_counter() - start
        cpu = cpu_seconds(p.pid)
        time.sleep(2)
        idle = rss_kib(p.pid)
        for _ in range(20):
            assert get(port, scrape) == 200
        loaded = rss_kib(p.pid)
        return ready, cpu, idle, loaded
    finally:
        p.terminate(); p.wait()

names = ["infraprobe", "redis_exporter"]
results = {n: [] for n in names}
for i in range(rounds + 1):
    order = names if i % 2 == 0 else names[::-1]
    measured = {n: run(n) for n in order}
    if i == 0: continue  # warm-up: page cache, first exec
    for n in names: results[n].append(measured[n])

def med(name, k): return statistics.median(r[k] for r in results[name])
def ratio(k): return statistics.median(a[k] / b[k] for a, b in zip(results["infraprobe"], results["redis_exporter"]))
rows = [("startup until health answers (ms)", 0, 1000), ("CPU used by then (ms)", 1, 1000),
        ("idle RSS, 2 s after start (MiB)", 2, 1 / 1024), ("RSS after 20 scrapes (MiB)", 3, 1 / 1024)]
goals = {0: "(goal <= 1.5)", 2: "(goal <= 1.3)"}
print(f"{rounds} interleaved rounds after one warm-up; medians; ratio = median of per-round infraprobe/redis_exporter")
print(f"{'':36}{'infraprobe':>12}{'redis_exporter':>16}{'ratio':>8}")
for label, k, scale in rows:
    print(f"{label:36}{med('infraprobe', k) * scale:>12.1f}{med('redis_exporter', k) * scale:>16.1f}{ratio(k):>8.2f}   {goals.get(k, '')}")
PY

#!/usr/bin/env bash
# Benchmark (not a test): what probe traces cost a probe. Three infraprobe instances probe the
# same redis-server: tracing off, tracing to an OTLP sink that answers 200, and tracing to an
# endpoint that accepts connections and never answers. Scrapes alternate between them so drift
# hits all alike; prints median /probe latency, the ratios against tracing off, RSS, and the
# trace counters. Loopback only; stops what it starts.
#   scripts/bench-tracing.sh [scrapes=300]     (CONFIG=debug to skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
SCRAPES=${1:-300}
CONFIG=${CONFIG:-release}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }

swift build -c "$CONFIG" --product infraprobe >/dev/null
bin=$(swift build -c "$CONFIG" --show-bin-path)/infraprobe

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do [ -s "$work/redis.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/redis.pid")")

sink_port=$(free_port); hole_port=$(free_port)
python3 - "$sink_port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"partialSuccess":{}}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)
python3 -c 'import socket, sys, time; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024); time.sleep(3600)' "$hole_port" &
pids+=($!)

cat > "$work/infraprobe.yml" <<YAML
targets:
  bench:
    prober: redis
    address: 127.0.0.1:$redis_port
YAML
declare -A port pid
for variant in off sink hanging; do
  port[$variant]=$(free_port)
  flags=()
  [ "$variant" = sink ] && flags=(--tracing.otlp-endpoint "http://127.0.0.1:$sink_port")
  [ "$variant" = hanging ] && flags=(--tracing.otlp-endpoint "http://127.0.0.1:$hole_port" --tracing.export-timeout 2)
  "$bin" --config.file "$work/infraprobe.yml" --web.listen-address "127.0.0.1:${port[$variant]}" --log.level error "${flags[@]}" &
  pids+=($!); pid[$variant]=$!
  wait_http "http://127.0.0.1:${port[$variant]}/probe?target=bench"
done

read -r off sink hanging <<<"$(python3 - "${port[off]}" "${port[sink]}" "${port[hanging]}" "$SCRAPES" <<'PY'
import http.client, statistics, sys, time
ports, n = [int(p) for p in sys.argv[1:4]], int(sys.argv[4])
conns = [http.client.HTTPConnection("127.0.0.1", p) for p in ports]
def scrape(c):
    t = time.perf_counter(); c.request("GET", "/probe?target=bench"); r = c.getresponse(); body = r.read()
    assert r.status == 200 and b'probe_success{target="bench"} 1' in body, body[:200]
    return time.perf_counter() - t
for _ in range(20):
    for c in conns: scrape(c)
times = [[], [], []]
for _ in range(n):
    for i, c in enumerate(conns): times[i].append(scrape(c))
print(*(statistics.median(t) * 1000 for t in times))
PY
)"
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
counters() { curl -s "http://127.0.0.1:$1/metrics" | grep -E '^infraprobe_traces_(exported|dropped)_total' | tr '\n' ' '; }
python3 - "$off" "$sink" "$hanging" <<'PY'
import sys
off, sink, hanging = map(float, sys.argv[1:4])
print(f"median /probe latency: off {off:.3f} ms, sink {sink:.3f} ms ({sink/off:.2f}x), hanging endpoint {hanging:.3f} ms ({hanging/off:.2f}x)")
PY
for variant in off sink hanging; do
  echo "$variant: RSS $(rss "${pid[$variant]}") MiB; $(counters "${port[$variant]}")"
done

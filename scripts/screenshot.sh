#!/usr/bin/env bash
# Renders infraprobe's landing page in a real headless browser and checks it.
# Starts redis-server and infraprobe (one healthy target, one broken one) on free loopback
# ports, probes both once, then has Debian's chromium take a PNG of / and dump its DOM.
# Fails unless the DOM has the targets table with the healthy and the broken rows and the
# recent-probes table. Output: ${SCREENSHOT_OUT:-.build/landing.png}. Installs chromium with
# apt when it is missing (needs root or sudo). Stops only the processes it started, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SCREENSHOT_OUT:-.build/landing.png}
BIN=.build/debug/infraprobe
[ -x "$BIN" ] || swift build
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/infraprobe-shot.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

REDIS_PORT=$(free_port); PORT=$(free_port); DEAD_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/infraprobe.yml" <<YAML
timeout: 3s
targets:
  redis-healthy:
    prober: redis
    address: 127.0.0.1:$REDIS_PORT
  redis-broken:
    prober: redis
    address: 127.0.0.1:$DEAD_PORT
YAML
"$BIN" --config.file "$WORK/infraprobe.yml" --web.listen-address "127.0.0.1:$PORT" >"$WORK/infraprobe.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/-/healthy" >/dev/null && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/probe" >/dev/null

mkdir -p "$(dirname "$OUT")"
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$WORK/chrome")
timeout 60 "${CHROME[@]}" --window-size=1280,1400 --screenshot="$OUT" "http://127.0.0.1:$PORT/" >"$WORK/chromium.log" 2>&1
timeout 60 "${CHROME[@]}" --dump-dom "http://127.0.0.1:$PORT/" >"$WORK/dom.html" 2>>"$WORK/chromium.log"

fail() { echo "screenshot: $*" >&2; exit 1; }
[ -s "$OUT" ] || fail "no PNG written"
[ "$(head -c 8 "$OUT" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$OUT is not a PNG"
grep -q '<table id="targets">' "$WORK/dom.html" || fail "targets table missing from the rendered DOM"
rows=$(grep -o '<tr class="component">' "$WORK/dom.html" | wc -l)
[ "$rows" -eq 14 ] || fail "expected 14 component rows (2 targets x 7), got $rows"
grep -q 'redis-healthy' "$WORK/dom.html" && grep -q 'redis-broken' "$WORK/dom.html" || fail "target names missing"
[ "$(grep -o '<td class="up">UP</td>' "$WORK/dom.html" | wc -l)" -eq 7 ] || fail "healthy target should show 7 UP cells"
grep -q '<b>connection_refused</b>' "$WORK/dom.html" || fail "broken target's reason missing"
grep -q '<tr class="probe">' "$WORK/dom.html" || fail "recent probes table empty"
echo "screenshot: OK, $rows component rows; wrote $OUT ($(stat -c %s "$OUT") bytes)"

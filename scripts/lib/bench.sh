# Shared by the bench scripts that run the built exporter against one real redis-server: source it
# from the repository root after setting BUILD_CONFIG. Gives a work directory ($work), the pids to
# stop on exit ($pids, stopped by pid), free_port, and bench_start (builds, sets $BIN, starts redis).
# shellcheck shell=bash

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# bench_start PRODUCT...: builds the products in $BUILD_CONFIG, sets $BIN to their directory, and
# starts a redis-server on 127.0.0.1:$redis_port whose pid joins $pids.
bench_start() {
  local product
  for product in "$@"; do swift build -c "$BUILD_CONFIG" --product "$product" >/dev/null; done
  BIN=$(swift build -c "$BUILD_CONFIG" --show-bin-path)
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --logfile "$work/redis.log" >/dev/null &
  pids+=($!)
}

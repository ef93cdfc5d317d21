#!/usr/bin/env bash
# Peak memory (RSS) of Shroud (and, for comparison, of the nginx proxy's
# processes) under 10,000 concurrent keep-alive connections driven by wrk on
# loopback against the same 4 KB JSON upstream.
#
#   cargo build --release -p shroud && bench/gateway-memory.sh
#   CONNS=10000 DURATION=20s LEVEL=none bench/gateway-memory.sh
source "$(dirname "$0")/common.sh"
LEVEL=${LEVEL:-redact}
CONNS=${CONNS:-10000}
DURATION=${DURATION:-20s}
# Raise the soft limit of open files to the hard limit; each process here
# (wrk, Shroud, nginx) needs CONNS sockets plus some.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNS + 1000)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $CONNS connections (raise the hard limit)" >&2; exit 2
fi

start_upstream
start_nginx_proxy
start_shroud "$LEVEL"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
nginx_rss_kb() {
  local total=0 p
  for p in $(pgrep -f "nginx: worker process" ); do
    # Only the proxy's workers (their parent is the proxy master).
    if grep -q "$WORK/px" "/proc/$(awk '{print $4}' /proc/$p/stat)/cmdline" 2>/dev/null; then
      total=$((total + $(rss_kb "$p")))
    fi
  done
  echo "$total"
}

echo "| proxy | connections | req/s | idle RSS MiB | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: |"
idle=$(rss_kb "$SHROUD_PID")
out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s -H 'x-api-key: bench-key' "http://127.0.0.1:$SHROUD_PORT/customers.json")
peak=$(hwm_kb "$SHROUD_PID")
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
errs=$(echo "$out" | grep -E "Socket errors|Non-2xx" | tr '\n' ' ' || true)
echo "| shroud ($LEVEL) | $CONNS | $rps | $((idle / 1024)) | $((peak / 1024)) |"

idle=$(nginx_rss_kb)
peak=0
( wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s "http://127.0.0.1:$NGINX_PORT/customers.json" > "$WORK/nginx-wrk.out" ) &
WRK=$!
while kill -0 "$WRK" 2>/dev/null; do
  now=$(nginx_rss_kb); [ "$now" -gt "$peak" ] && peak=$now
  sleep 0.5
done
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/nginx-wrk.out")
echo "| nginx (2 workers, sampled every 0.5 s) | $CONNS | $rps | $((idle / 1024)) | $((peak / 1024)) |"
[ -n "$errs" ] && echo "shroud run: $errs"
grep -E "Socket errors|Non-2xx" "$WORK/nginx-wrk.out" | sed 's/^/nginx run: /' || true

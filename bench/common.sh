# Shared helpers of the gateway benchmarks (sourced).
# Loopback only: the upstream (nginx serving a static 4 KB JSON file), the
# proxies and wrk all run on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHROUD=${SHROUD:-$ROOT/target/release/shroud}
WORK=$(mktemp -d /tmp/shroud-bench.XXXXXX)
# nginx workers run unprivileged: they must be able to read the document.
chmod 755 "$WORK"
UPSTREAM_PORT=${UPSTREAM_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18080}
SHROUD_PORT=${SHROUD_PORT:-18082}
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y wrk nginx" >&2; exit 2; }; }
need wrk; need nginx; need python3
[ -x "$SHROUD" ] || { echo "build first: cargo build --release -p shroud ($SHROUD missing)" >&2; exit 2; }

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $1 never opened" >&2; exit 2
}

start_upstream() {
  mkdir -p "$WORK/www" "$WORK/up"
  chmod 755 "$WORK/www"
  python3 "$ROOT/bench/gen_customers.py" 4096 > "$WORK/www/customers.json"
  cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/up/nginx.pid;
error_log $WORK/up/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 1000000;
  types { application/json json; }
  server {
    listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
    root $WORK/www;
    location /healthz { return 200 "ok"; }
  }
}
CONF
  nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" & PIDS+=($!)
  wait_port "$UPSTREAM_PORT"
}

start_nginx_proxy() {
  mkdir -p "$WORK/px"
  cat > "$WORK/px/nginx.conf" <<CONF
worker_processes 2;
worker_rlimit_nofile 200000;
daemon off;
pid $WORK/px/nginx.pid;
error_log $WORK/px/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  nginx -p "$WORK/px" -c "$WORK/px/nginx.conf" & PIDS+=($!)
  wait_port "$NGINX_PORT"
}

# start_shroud LEVEL: Shroud with the static engine deciding LEVEL for everyone.
start_shroud() {
  local level=$1
  local keyhash
  keyhash=$(printf %s bench-key | sha256sum | cut -d' ' -f1)
  cat > "$WORK/shroud.toml" <<CONF
[listen]
addr = "127.0.0.1:$SHROUD_PORT"
[limits]
max_concurrency = 100000
[tiers.normal]
upstreams = ["http://127.0.0.1:$UPSTREAM_PORT"]
[decision]
static_level = "$level"
[cache]
enabled = false
[[identity.api_keys]]
user = "bench"
sha256 = "$keyhash"
CONF
  SHROUD_LOG=warn "$SHROUD" serve --config "$WORK/shroud.toml" > "$WORK/shroud.out" 2>&1 & PIDS+=($!)
  SHROUD_PID=$!
  wait_port "$SHROUD_PORT"
}

# to_ms VALUE: wrk latency ("812.00us", "1.23ms", "1.01s") in milliseconds.
to_ms() {
  python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s|m)',v); n=float(m.group(1)); print({'us':n/1000,'ms':n,'s':n*1000,'m':n*60000}[m.group(2)])" "$1"
}

# run_wrk URL CONNS DURATION: prints "rps p50_ms p99_ms".
run_wrk() {
  local out
  out=$(wrk -t2 -c"$2" -d"$3" --latency -H 'x-api-key: bench-key' "$1")
  echo "$out" >> "$WORK/wrk.log"
  if echo "$out" | grep -q "Non-2xx"; then
    echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 3
  fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  echo "$rps $p50 $p99"
}

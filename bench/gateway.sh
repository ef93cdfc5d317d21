#!/usr/bin/env bash
# Throughput and latency: nginx as a plain reverse proxy vs Shroud, same
# upstream (nginx serving a 4 KB JSON file), same load generator (wrk), on
# loopback. Prints a Markdown table.
#
#   cargo build --release -p shroud && bench/gateway.sh
#   LEVEL=none RUNS=3 DURATION=15s CONNS=64 bench/gateway.sh
#
# LEVEL is the masking level Shroud's static engine decides for every request
# (`redact` needs a build with the masking engine; `none` measures the proxy
# path alone: identity, decision, routing, streaming pass-through).
source "$(dirname "$0")/common.sh"
LEVEL=${LEVEL:-redact}
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}

start_upstream
start_nginx_proxy
start_shroud "$LEVEL"

# Sanity: both proxies answer 200 and Shroud applied the level.
curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/customers.json"
hdr=$(curl -s -D - -o "$WORK/shroud-body.json" -H 'x-api-key: bench-key' "http://127.0.0.1:$SHROUD_PORT/customers.json")
echo "$hdr" | grep -qi "^HTTP/1.1 200" || { echo "Shroud did not answer 200:"; echo "$hdr"; cat "$WORK/shroud-body.json"; exit 3; }
applied=$(echo "$hdr" | awk -F': ' 'tolower($1)=="x-shroud-level" {print $2}' | tr -d '\r')
echo "# Shroud level applied: $applied; body $(wc -c < "$WORK/shroud-body.json") bytes (upstream $(wc -c < "$WORK/www/customers.json"))"

# Warm-up (connection pools, caches).
wrk -t2 -c"$CONNS" -d3s "http://127.0.0.1:$NGINX_PORT/customers.json" > /dev/null
wrk -t2 -c"$CONNS" -d3s -H 'x-api-key: bench-key' "http://127.0.0.1:$SHROUD_PORT/customers.json" > /dev/null

echo "| run | proxy | req/s | p50 ms | p99 ms |"
echo "| --- | --- | ---: | ---: | ---: |"
declare -a N_RPS S_RPS N_P99 S_P99 N_P50 S_P50
for r in $(seq 1 "$RUNS"); do
  read -r a b c < <(run_wrk "http://127.0.0.1:$NGINX_PORT/customers.json" "$CONNS" "$DURATION")
  N_RPS+=("$a"); N_P50+=("$b"); N_P99+=("$c")
  echo "| $r | nginx | $a | $b | $c |"
  read -r a b c < <(run_wrk "http://127.0.0.1:$SHROUD_PORT/customers.json" "$CONNS" "$DURATION")
  S_RPS+=("$a"); S_P50+=("$b"); S_P99+=("$c")
  echo "| $r | shroud ($applied) | $a | $b | $c |"
done
python3 - "${N_RPS[*]}" "${S_RPS[*]}" "${N_P50[*]}" "${S_P50[*]}" "${N_P99[*]}" "${S_P99[*]}" <<'PY'
import statistics as st, sys
nr, sr, n50, s50, n99, s99 = ([float(x) for x in a.split()] for a in sys.argv[1:])
m = st.median
print()
print("| median | nginx | shroud | ratio / added |")
print("| --- | ---: | ---: | ---: |")
print(f"| req/s | {m(nr):.0f} | {m(sr):.0f} | {m(sr)/m(nr):.2f}x |")
print(f"| p50 ms | {m(n50):.3f} | {m(s50):.3f} | +{m(s50)-m(n50):.3f} ms |")
print(f"| p99 ms | {m(n99):.3f} | {m(s99):.3f} | +{m(s99)-m(n99):.3f} ms |")
PY

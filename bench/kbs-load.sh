#!/usr/bin/env bash
# Load test of the key broker on loopback: starts 'cloister kbs serve' (SQLite, self-signed TLS, simulation
# root trusted), then runs concurrent workloads doing whole releases with simulated SGX evidence.
#   bench/kbs-load.sh [CLIENTS=16] [SECONDS=60] [WARMUP=15] [DB]
# Prints the load generator's summary and the broker's resident memory sampled every 10 s.
# Everything stays on 127.0.0.1; the broker is stopped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clients=${1:-16}
seconds=${2:-60}
warmup=${3:-15}
java_home=$("$root/scripts/java-home")
work=$(mktemp -d /tmp/kbs-load.XXXXXX)
db=${4:-$work/kbs.db}
"$root/mvnw" -q -B -o -DskipTests -pl cloister-cli,bench -am package >&2 || \
  "$root/mvnw" -q -B -DskipTests -pl cloister-cli,bench -am package >&2

"$java_home/bin/java" -Xmx512m -Duser.home="$work" --enable-native-access=ALL-UNNAMED \
  -jar "$root/cloister-cli/target/cloister-cli.jar" kbs serve --db "$db" --master-key "$work/master.key" \
  --listen 127.0.0.1:0 --tls-self-signed --allow-simulation --rate-limit 0 --cert-out "$work/cert.pem" \
  --admin-token-file "$work/admin.token" --json >"$work/serve.json" 2>"$work/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q '"url"' "$work/serve.json" 2>/dev/null && grep -q '^}' "$work/serve.json" && break; sleep 0.5; done
url=$(sed -n 's/.*"url" : "\(.*\)".*/\1/p' "$work/serve.json")
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 4; }
echo "broker $url (pid $server, db $db)" >&2

( while kill -0 $server 2>/dev/null; do
    echo "broker rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$server/status 2>/dev/null) t=$(date +%s)" >&2
    sleep 10
  done ) &
sampler=$!
cpu() { awk '{print $14 + $15}' /proc/$server/stat; }
cpu0=$(cpu)
"$java_home/bin/java" -Xmx512m -cp "$root/bench/target/cloister-bench.jar" dev.cloister.bench.KbsLoad \
  "$url" "$work/cert.pem" "$work/admin.token" "$clients" "$seconds" "$warmup" | tee "$work/result.txt"
cpu1=$(cpu)
kill $sampler 2>/dev/null || true
n=$(sed -n 's/.*all_releases_incl_warmup=\([0-9]*\).*/\1/p' "$work/result.txt")
tck=$(getconf CLK_TCK)
# Broker CPU per release (user+system, all threads, including its share of TLS, JSON, SQLite and DCAP checks):
# the broker's capacity on dedicated cores, independent of the load generator sharing this machine.
awk -v c=$((cpu1 - cpu0)) -v n="$n" -v t="$tck" -v cores="$(nproc)" 'BEGIN {
  ms = c * 1000 / t / n; printf "broker cpu_ms_per_release=%.2f capacity_on_%d_cores=%.0f/s\n", ms, cores, cores * 1000 / ms }'
echo "broker final rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$server/status)" >&2

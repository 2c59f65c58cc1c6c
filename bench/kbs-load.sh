#!/usr/bin/env bash
# Load test of the key broker on loopback: starts 'cloister kbs serve' (SQLite, self-signed TLS, simulation
# root trusted), then runs concurrent workloads doing whole releases with simulated SGX evidence.
#   [RATE=N] [SAMPLE=30] [SKIP_BUILD=1] bench/kbs-load.sh [CLIENTS=16] [SECONDS=60] [WARMUP=15] [DB]
# RATE (releases/s, default 0) switches the generator from closed loop to a fixed schedule whose latency counts
# from each release's scheduled start (no coordinated omission). Prints a line per SAMPLE seconds (the interval's
# rate and percentiles, the broker's resident memory and the load average), then the generator's summary and the
# broker's CPU per release.
# Everything stays on 127.0.0.1; the broker is stopped and its temporary folder (master key, token, database)
# removed at the end, also on failure or Ctrl-C (KEEP=1 keeps the folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
clients=${1:-16}
seconds=${2:-60}
warmup=${3:-15}
java_home=$("$root/scripts/java-home")
work=$(mktemp -d /tmp/kbs-load.XXXXXX)
server=
sampler=
# The folder holds a master key, an admin token and the database: removed on every exit (KEEP=1 keeps it).
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
db=${4:-$work/kbs.db}
if [ -z "${SKIP_BUILD:-}" ]; then
  "$root/mvnw" -q -B -o -DskipTests -pl cloister-cli,bench -am package >&2 || \
    "$root/mvnw" -q -B -DskipTests -pl cloister-cli,bench -am package >&2
fi

# shellcheck disable=SC2086 # BROKER_JAVA_OPTS / LOAD_JAVA_OPTS (e.g. a JFR recording) are word-split on purpose
"$java_home/bin/java" -Xmx512m ${BROKER_JAVA_OPTS:-} -Duser.home="$work" --enable-native-access=ALL-UNNAMED \
  -jar "$root/cloister-cli/target/cloister-cli.jar" kbs serve --db "$db" --master-key "$work/master.key" \
  --listen 127.0.0.1:0 --tls-self-signed --allow-simulation --rate-limit 0 --cert-out "$work/cert.pem" \
  --admin-token-file "$work/admin.token" --json >"$work/serve.json" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 120); do grep -q '"url"' "$work/serve.json" 2>/dev/null && grep -q '^}' "$work/serve.json" && break; sleep 0.5; done
url=$(sed -n 's/.*"url" : "\(.*\)".*/\1/p' "$work/serve.json")
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 4; }
echo "broker $url (pid $server, db $db)" >&2

( while kill -0 $server 2>/dev/null; do
    echo "broker rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$server/status 2>/dev/null) t=$(date -u +%H:%M:%S)" \
      "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" >&2
    sleep "${SAMPLE:-30}"
  done ) &
sampler=$!
"$java_home/bin/java" -Xmx512m ${LOAD_JAVA_OPTS:-} -Dkbs.brokerPid=$server -Dkbs.clkTck="$(getconf CLK_TCK)" \
  -cp "$root/bench/target/cloister-bench.jar" dev.cloister.bench.KbsLoad \
  "$url" "$work/cert.pem" "$work/admin.token" "$clients" "$seconds" "$warmup" "${RATE:-0}" "${SAMPLE:-30}" | tee "$work/result.txt"
kill $sampler 2>/dev/null || true
# Broker CPU per release (user+system, all threads, including its share of TLS, JSON, SQLite and DCAP checks) during
# the measured part: the broker's capacity on dedicated cores, independent of the load generator sharing them.
ms=$(sed -n 's/.*broker_cpu_ms_per_release=\([0-9.]*\).*/\1/p' "$work/result.txt")
[ -z "$ms" ] || awk -v ms="$ms" -v cores="$(nproc)" 'BEGIN { printf "broker capacity_on_%d_cores=%.0f/s\n", cores, cores * 1000 / ms }'
echo "broker final rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$server/status) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" >&2

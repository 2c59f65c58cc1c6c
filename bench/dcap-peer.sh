#!/usr/bin/env bash
# Runs Cloister's DCAP verifier (JMH DcapBench) and the JS peer @phala/dcap-qvl 0.3.9 (../shared/tools/dcap-peer)
# on the same inputs, the dcap-qvl SGX and TDX samples, in the same run, and prints the median times and the ratio.
# Usage: bench/dcap-peer.sh [peer runs, default 300]
# Needs node and npm (the peer is installed once into bench/target/dcap-peer from the npm registry).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-300}
peer_dir=${DCAP_PEER:-$root/../shared/tools/dcap-peer}
modules=$root/bench/target/dcap-peer
[[ -f $peer_dir/dcap_peer.js ]] || { echo "dcap-peer not found in $peer_dir (set DCAP_PEER)" >&2; exit 4; }
command -v node >/dev/null || { echo "node is required" >&2; exit 4; }
if [[ ! -d $modules/node_modules/@phala/dcap-qvl ]]; then
  mkdir -p "$modules"
  npm install --no-audit --no-fund --silent --prefix "$modules" @phala/dcap-qvl@0.3.9 >&2
fi

java_home=$("$root/scripts/java-home")
"$root/mvnw" -q -B -o -DskipTests -pl bench -am package >&2 || "$root/mvnw" -q -B -DskipTests -pl bench -am package >&2
json=$(mktemp)
trap 'rm -f "$json"' EXIT
echo "== Cloister DcapBench (JMH, sample time) ==" >&2
(cd "$root" && "$java_home/bin/java" -jar bench/target/cloister-bench.jar 'DcapBench' -f 1 -wi 3 -w 2 -i 5 -r 2 \
  -rf json -rff "$json" >&2)
echo "== peer @phala/dcap-qvl 0.3.9 ($runs runs each) ==" >&2
peer_out=$(cd "$peer_dir" && NODE_PATH="$modules/node_modules" node dcap_peer.js --bench "$runs")
echo "$peer_out" >&2

python3 - "$json" "$peer_out" <<'PY'
import json, re, sys
jmh = {r["benchmark"].rsplit(".", 1)[1]: r["primaryMetric"]["scorePercentiles"]["50.0"] / 1000.0
       for r in json.load(open(sys.argv[1]))}
peer = {}
for m in re.finditer(r'bench (\S+): (\{.*\})', sys.argv[2]):
    peer[m.group(1)] = float(json.loads(m.group(2))["median_ms"])
rows = [("SGX", "dcapqvl-sgx-v3", "sgxFull", "sgxCached"), ("TDX", "dcapqvl-tdx-v4", "tdxFull", "tdxCached")]
print(f"{'sample':6} {'peer ms':>9} {'full ms':>9} {'cached ms':>10} {'peer/full':>10} {'peer/cached':>12}")
for name, pid, full, cached in rows:
    p, f, c = peer[pid], jmh[full], jmh[cached]
    print(f"{name:6} {p:9.3f} {f:9.3f} {c:10.3f} {p / f:9.1f}x {p / c:11.1f}x")
PY

#!/usr/bin/env bash
# Runs Cloister's DCAP verifier (JMH DcapBench) and the JS peer @phala/dcap-qvl 0.3.9 (../shared/tools/dcap-peer)
# on the same inputs, the dcap-qvl SGX and TDX samples, in the same run, and prints the median times and the ratio.
# Usage: bench/dcap-peer.sh [peer runs, default 300]
# "full 2thr" is DcapBench.*FullParallel: the same full verification with the collateral checked on a second thread.
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

# CPU time per verification (process-wide, both sides): robust when other jobs share the cores
echo "== CPU time per verification ==" >&2
java_cpu=$(cd "$root" && "$java_home/bin/java" -cp bench/target/cloister-bench.jar dev.cloister.bench.DcapCpuTime 2000)
echo "$java_cpu" >&2
data=$root/cloister-attestation/src/test/resources/dcap/dcap-qvl
peer_cpu=$(NODE_PATH="$modules/node_modules" node - "$data" "$runs" <<'JS'
const qvl = require('@phala/dcap-qvl'); const fs = require('fs'); const path = require('path');
const [dir, runs] = [process.argv[2], Number(process.argv[3])];
for (const [name, q, c, now] of [['sgx', 'sgx_quote', 'sgx_quote_collateral.json', 1752919277],
                                 ['tdx', 'tdx_quote', 'tdx_quote_collateral.json', 1752919234]]) {
  const quote = fs.readFileSync(path.join(dir, q)); const coll = JSON.parse(fs.readFileSync(path.join(dir, c), 'utf8'));
  const v = qvl.QuoteVerifier.newProd();
  for (let i = 0; i < 20; i++) v.verify(quote, coll, now);
  const t0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) v.verify(quote, coll, now);
  const d = process.cpuUsage(t0);
  console.log(`cpu ${name} ${((d.user + d.system) / 1000 / runs).toFixed(4)}`);
}
JS
)
echo "$peer_cpu" >&2

python3 - "$json" "$peer_out" "$java_cpu" "$peer_cpu" <<'PY'
import json, re, sys
jmh = {r["benchmark"].rsplit(".", 1)[1]: r["primaryMetric"]["scorePercentiles"]["50.0"] / 1000.0
       for r in json.load(open(sys.argv[1]))}
peer = {}
for m in re.finditer(r'bench (\S+): (\{.*\})', sys.argv[2]):
    peer[m.group(1)] = float(json.loads(m.group(2))["median_ms"])
jcpu = dict(re.findall(r'cpu (\w+) ([\d.]+)', sys.argv[3]))
pcpu = dict(re.findall(r'cpu (\w+) ([\d.]+)', sys.argv[4]))
rows = [("SGX", "dcapqvl-sgx-v3", "sgx"), ("TDX", "dcapqvl-tdx-v4", "tdx")]
print("wall-clock medians (ms): JMH sample time vs the peer's own --bench")
print(f"{'sample':6} {'peer':>9} {'full':>9} {'full 2thr':>9} {'cached':>9} {'peer/full':>10} {'peer/cached':>12}")
for name, pid, k in rows:
    p, f, c = peer[pid], jmh[k + "Full"], jmh[k + "Cached"]
    f2 = jmh.get(k + "FullParallel", float("nan"))
    print(f"{name:6} {p:9.3f} {f:9.3f} {f2:9.3f} {c:9.3f} {p / f:9.1f}x {p / c:11.1f}x")
print("process CPU time per verification (ms)")
print(f"{'sample':6} {'peer':>9} {'full':>9} {'cached':>9} {'peer/full':>10} {'peer/cached':>12}")
for name, pid, k in rows:
    p, f, c = float(pcpu[k]), float(jcpu[k + "Full"]), float(jcpu[k + "Cached"])
    print(f"{name:6} {p:9.3f} {f:9.3f} {c:9.3f} {p / f:9.1f}x {p / c:11.1f}x")
PY

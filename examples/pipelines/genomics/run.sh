#!/usr/bin/env bash
# The genomics example end to end, one command per role (all on this machine here):
#   vendors: bundles of unmodified python3 scripts, minimap2 and samtools   -> cloister build
#   broker:  a key broker on loopback                                        -> cloister kbs serve
#   owner:   synthetic reads and reference, the pipeline with one policy per step
#            -> cloister pipeline run (keys per edge, steps in simulated enclaves, in parallel where the DAG allows)
#   owner:   verified, decrypted outputs                                     -> cloister pipeline fetch
# Then it runs the same tools directly on the plaintext and compares every output byte for byte.
# Needs python3, minimap2, samtools and bubblewrap (Debian packages; .ci/run installs them).
# Usage: examples/pipelines/genomics/run.sh [DIR] [--executor local|slurm [--slurm-conf FILE]]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cloister="$root/cloister"
dir=$(mktemp -d)
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then dir=$1; shift; fi
mkdir -p "$dir" && cd "$dir"
for t in python3 minimap2 samtools; do
  command -v $t >/dev/null || { echo "genomics: $t is missing (apt-get install $t)" >&2; exit 4; }
done
port=$((20000 + RANDOM % 20000))
url="https://127.0.0.1:$port"

echo "== data: synthetic reference and reads"
mkdir -p data && python3 "$here/make-data.py" data

echo "== vendors: bundles of unmodified programs"
mapfile -t stdlib < <(/usr/bin/python3 -c '
import sys, json
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f and f.startswith(sys.base_prefix + "/lib/python3"):
        print(f)' | sort -u)
includes=(); for f in "${stdlib[@]}"; do includes+=(--include "$f"); done
for s in filter report; do
  mkdir -p "app-$s" && cp "$here/$s.py" "app-$s/"
  "$cloister" build --dir "app-$s" --entrypoint "$s.py" "${includes[@]}" -o "bundles/$s" --name "$s" >/dev/null
done
"$cloister" build --binary "$(command -v minimap2)" -o bundles/minimap2 --name minimap2 >/dev/null
"$cloister" build --binary "$(command -v samtools)" -o bundles/samtools --name samtools >/dev/null
m() { "$cloister" bundle inspect "bundles/$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"])'; }

echo "== broker: start on $url"
"$cloister" kbs serve --db "$dir/kbs.db" --master-key "$dir/master.key" --listen "127.0.0.1:$port" \
  --tls-self-signed --cert-out "$dir/broker.pem" --admin-token-file "$dir/admin.token" --allow-simulation \
  >"$dir/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do [ -s "$dir/admin.token" ] && [ -s "$dir/broker.pem" ] && break; sleep 0.5; done
kbs=(--url "$url" --ca "$dir/broker.pem")
"$cloister" kbs namespace create lab "${kbs[@]}" --token-file "$dir/admin.token" >/dev/null
"$cloister" kbs token create --role owner --namespace lab --out "$dir/owner.token" "${kbs[@]}" \
  --token-file "$dir/admin.token" >/dev/null

echo "== owner: run the pipeline"
sed -e "s|@BROKER@|$url|" -e "s|@FILTER@|$(m filter)|" -e "s|@REPORT@|$(m report)|" \
    -e "s|@MINIMAP2@|$(m minimap2)|" -e "s|@SAMTOOLS@|$(m samtools)|" "$here/pipeline.yaml.in" > pipeline.yaml
"$cloister" pipeline run pipeline.yaml --runs runs "${kbs[@]}" --token-file "$dir/owner.token" --namespace lab "$@" \
  | tee run.txt
run=$(sed -n 's/^run \([^ ]*\) .*/\1/p' run.txt | head -1)

echo "== owner: fetch and decrypt"
"$cloister" pipeline fetch "$run" results --runs runs

echo "== check: the same tools run directly on the plaintext (no enclave, same paths)"

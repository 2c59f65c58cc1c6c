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
# minimap2's threads end with pthread_exit, for which glibc loads libgcc_s.so.1 with dlopen: no ELF header names
# it, so the bundle must include it by hand (as Gramine manifests do).
libgcc=$(ldconfig -p | sed -n 's/^\s*libgcc_s.so.1 (libc6,x86-64) => //p' | head -1)
"$cloister" build --binary "$(command -v minimap2)" --include "$libgcc" -o bundles/minimap2 --name minimap2 >/dev/null
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
"$cloister" pipeline run pipeline.yaml --runs runs --keys keys "${kbs[@]}" --token-file "$dir/owner.token" --namespace lab "$@" \
  | tee run.txt
run=$(sed -n 's/^run \([^ ]*\) .*/\1/p' run.txt | head -1)

echo "== owner: fetch and decrypt"
"$cloister" pipeline fetch "$run" results --runs runs --keys keys

echo "== check: the same tools run directly on the plaintext (no enclave, same paths)"
system=(--ro-bind /usr /usr --ro-bind /etc /etc --ro-bind "$here" "$here")
for d in bin lib lib64 sbin; do
  if [ -L "/$d" ]; then system+=(--symlink "$(readlink "/$d")" "/$d"); elif [ -d "/$d" ]; then system+=(--ro-bind "/$d" "/$d"); fi
done
# Programs are named by the absolute path the bundles start them by: samtools records its argv[0] in the BAM.
bwrap_run() { # STEP "HOSTFILE:NAME ..." COMMAND...: COMMAND with each HOSTFILE at /inputs/NAME and an empty /outputs
  local step=$1 files=$2; shift 2; local binds=()
  for pair in $files; do binds+=(--ro-bind "$dir/${pair%%:*}" "/inputs/${pair##*:}"); done
  mkdir -p "direct/$step"
  bwrap "${system[@]}" --dir /inputs "${binds[@]}" --bind "$dir/direct/$step" /outputs --dev /dev --proc /proc \
    --chdir / "$@" >/dev/null 2>"$dir/direct/$step.err"
}
bwrap_run filter "data/reads.fq:reads.fq" /usr/bin/python3 "$here/filter.py" /inputs/reads.fq /outputs/filtered.fq
bwrap_run align "data/ref.fa:ref.fa direct/filter/filtered.fq:reads.fq" \
  /usr/bin/minimap2 -a -x sr /inputs/ref.fa /inputs/reads.fq -o /outputs/aligned.sam
bwrap_run sort "direct/align/aligned.sam:aligned.sam" /usr/bin/samtools sort -o /outputs/sorted.bam /inputs/aligned.sam
bwrap_run coverage "direct/sort/sorted.bam:sorted.bam" /usr/bin/samtools coverage -o /outputs/coverage.tsv /inputs/sorted.bam
bwrap_run depth "direct/sort/sorted.bam:sorted.bam" /usr/bin/samtools depth -a -o /outputs/depth.tsv /inputs/sorted.bam
bwrap_run report "direct/coverage/coverage.tsv:coverage.tsv direct/depth/depth.tsv:depth.tsv" \
  /usr/bin/python3 "$here/report.py" /inputs/coverage.tsv /inputs/depth.tsv /outputs/report.json
status=0
for spec in filter:filtered:filtered.fq align:aligned:aligned.sam sort:sorted:sorted.bam \
            coverage:coverage:coverage.tsv depth:depth:depth.tsv report:report:report.json; do
  IFS=: read -r step name file <<<"$spec"
  if cmp -s "results/$step/$name" "direct/$step/$file"; then
    echo "same       results/$step/$name = direct/$step/$file ($(wc -c <"results/$step/$name") bytes)"
  else
    echo "DIFFERENT  results/$step/$name vs direct/$step/$file"; status=1
  fi
done
cat results/report/report
exit $status

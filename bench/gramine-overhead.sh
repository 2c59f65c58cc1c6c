#!/usr/bin/env bash
# What real Gramine costs (docs/jobs.md "Backends", docs/pf.md "Gramine's encrypted mount"), in one run:
#
#  1. Per-job overhead, submit to outputs fetched, of the same job (examples/confidential-job/count.c on a 1 MiB
#     input): the program run natively on the plaintext, the sim backend, and gramine-direct. Each phase
#     (job submit, worker run, job fetch) is a ./cloister command, JVM start included, as a user runs it.
#  2. Gramine's own encrypted mount inside gramine-direct writing and reading SIZE_MIB (bench/gramine/pfbench.c,
#     timed inside the enclave), against Cloister's pf library (`cloister pf encrypt` / `decrypt`, in-process
#     seconds from --json and the wall time with JVM start) on the same bytes; Cloister also decrypts the file
#     Gramine wrote, which checks the two agree on the format at that size.
#
#   bench/gramine-overhead.sh [ROUNDS [SIZE_MIB]]      (default 5 and 1024; everything in /dev/shm;
#                                                       ONLY=pf runs part 2 alone)
#
# Builds gramine-direct with scripts/gramine-local if needed. Needs gcc, python3 and /usr/bin/time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
size=${2:-1024}
prefix=$("$root/scripts/gramine-local")
export PATH="$prefix/bin:$PATH"
cloister="$root/cloister"
work=$(mktemp -d /dev/shm/cloister-gramine-bench.XXXXXX)
broker=""
cleanup() { [ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

# ---- 1. per-job overhead ---- (ONLY=pf skips it)
if [ "${ONLY:-}" != pf ]; then
mkdir -p app
gcc -O2 -o app/count "$root/examples/confidential-job/count.c"
"$cloister" build --dir app --entrypoint count -o bundle --name count --bundle-version 1.0 >/dev/null
measurement=$("$cloister" bundle inspect bundle --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"])')
port=$((20000 + RANDOM % 20000))
url="https://127.0.0.1:$port"
"$cloister" kbs serve --db kbs.db --master-key master.key --listen "127.0.0.1:$port" --tls-self-signed \
  --cert-out broker.pem --admin-token-file admin.token --allow-simulation >broker.log 2>&1 &
broker=$!
for _ in $(seq 1 120); do [ -s admin.token ] && [ -s broker.pem ] && break; sleep 0.5; done
kbs=(--url "$url" --ca broker.pem)
"$cloister" kbs namespace create lab "${kbs[@]}" --token-file admin.token >/dev/null
"$cloister" kbs token create --role owner --namespace lab --out owner.token "${kbs[@]}" --token-file admin.token >/dev/null
python3 -c 'import random; r=random.Random(1); w=["alpha","beta","gamma","delta","epsilon"]
print("\n".join(" ".join(r.choice(w) for _ in range(12)) for _ in range(16000)))' > input.txt

echo
echo "## per-job overhead (count on a $(stat -c %s input.txt)-byte input), seconds, median of $rounds"
for r in $(seq 1 "$rounds"); do
  t0=$(now); app/count input.txt native.tsv >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >> native.t
done
for backend in sim gramine-direct; do
  for r in $(seq 1 "$rounds"); do
    cat > job.yaml <<YAML
name: count
bundle: {path: bundle, policy: "E:$measurement SIM:ALLOW"}
inputs: [{name: text, file: input.txt, path: /inputs/input.txt}]
outputs: [{name: counts, path: /outputs/counts.tsv}]
args: [/inputs/input.txt, /outputs/counts.tsv]
backend: $backend
broker: $url
repository: repo
YAML
    t0=$(now)
    id=$("$cloister" job submit job.yaml "${kbs[@]}" --token-file owner.token --namespace lab --keys keys)
    t1=$(now)
    "$cloister" worker run "$id" --repository repo "${kbs[@]}" >/dev/null 2>"worker-$backend.log"
    t2=$(now)
    rm -rf results
    "$cloister" job fetch "$id" results --repository repo --keys keys "${kbs[@]}" --token-file owner.token \
      --namespace lab >/dev/null
    t3=$(now)
    cmp -s results/counts native.tsv || { echo "$backend: output differs from the native run" >&2; exit 1; }
    echo "$t1 - $t0" | bc >> "$backend.submit"
    echo "$t2 - $t1" | bc >> "$backend.run"
    echo "$t3 - $t2" | bc >> "$backend.fetch"
    echo "$t3 - $t0" | bc >> "$backend.total"
  done
done
printf '| %-15s | %7s | %7s | %7s | %7s |\n' backend submit "worker run" fetch total
printf '| %-15s | %7s | %7s | %7s | %7s |\n' native - "$(median < native.t)" - "$(median < native.t)"
for backend in sim gramine-direct; do
  printf '| %-15s | %7s | %7s | %7s | %7s |\n' "$backend" "$(median < "$backend.submit")" "$(median < "$backend.run")" \
    "$(median < "$backend.fetch")" "$(median < "$backend.total")"
done
kill "$broker" 2>/dev/null; broker=""
fi

# ---- 2. encrypted files: Gramine's mount vs Cloister's pf library ----
echo
echo "## $size MiB: Gramine's encrypted mount inside gramine-direct vs Cloister's pf library, seconds"
gcc -O2 -static -o pfbench "$root/bench/gramine/pfbench.c"
./pfbench gen "$size" plain.bin
lib=$( (ls -d "$prefix"/lib/x86_64-linux-gnu/gramine "$prefix"/lib64/gramine "$prefix"/lib/gramine 2>/dev/null || true) | head -1)
mkdir -p g/root g/outputs
cp pfbench g/root/pfbench
"$cloister" pf keygen bench.key >/dev/null
keyhex=$(od -An -tx1 bench.key | tr -d ' \n')
cat > g/pfbench.manifest <<TOML
libos.entrypoint = "/pfbench"
loader.entrypoint.uri = "file:$lib/libsysdb.so"
loader.argv = ["/pfbench", "$keyhex", "$size", "/outputs/big"]
loader.log_level = "error"
fs.root = { type = "chroot", uri = "file:root" }
fs.mounts = [ { path = "/outputs", type = "encrypted", uri = "file:outputs", key_name = "default" } ]
sgx.trusted_files = [ { uri = "file:root/pfbench", sha256 = "$(sha256sum g/root/pfbench | cut -d' ' -f1)" } ]
TOML
sum() { "$@" 2>/dev/null | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["seconds"])'; }
printf '| %-3s | %-44s | %9s | %9s |\n' round what "in-process" wall
for r in $(seq 1 "$rounds"); do
  rm -f g/outputs/big ct.bin back.bin back2.bin
  t0=$(now); out=$(cd g && gramine-direct pfbench 2>/dev/null); t1=$(now)
  w=$(echo "$out" | awk '{print $2}'); rd=$(echo "$out" | awk '{print $4}')
  printf '| %-3s | %-44s | %9s | %9.2f |\n' "$r" "Gramine mount: write (then read: $rd s)" "$w" "$(echo "$t1 - $t0" | bc)"
  t0=$(now); s=$(sum "$cloister" pf encrypt --key bench.key --path outputs/big plain.bin ct.bin --json); t1=$(now)
  printf '| %-3s | %-44s | %9s | %9.2f |\n' "$r" "cloister pf encrypt (--jobs all cores)" "$s" "$(echo "$t1 - $t0" | bc)"
  t0=$(now); s=$(sum "$cloister" pf encrypt --jobs 1 --key bench.key --path outputs/big --force plain.bin ct.bin --json); t1=$(now)
  printf '| %-3s | %-44s | %9s | %9.2f |\n' "$r" "cloister pf encrypt --jobs 1" "$s" "$(echo "$t1 - $t0" | bc)"
  t0=$(now); s=$(sum "$cloister" pf decrypt --jobs 1 --key bench.key --path outputs/big g/outputs/big back.bin --json); t1=$(now)
  printf '| %-3s | %-44s | %9s | %9.2f |\n' "$r" "cloister pf decrypt --jobs 1 of Gramine's file" "$s" "$(echo "$t1 - $t0" | bc)"
  t0=$(now); s=$(sum "$cloister" pf decrypt --key bench.key --path outputs/big ct.bin back2.bin --json); t1=$(now)
  printf '| %-3s | %-44s | %9s | %9.2f |\n' "$r" "cloister pf decrypt (all cores) of its own" "$s" "$(echo "$t1 - $t0" | bc)"
  cmp -s back.bin plain.bin && cmp -s back2.bin plain.bin || { echo "decrypted data differs" >&2; exit 1; }
done
echo "# done $(date -u '+%H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"

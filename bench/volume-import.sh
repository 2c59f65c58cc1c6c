#!/usr/bin/env bash
# Times `cloister volume import` of a generated plaintext tree against, in the same run, `cp -r` of the same tree
# this machine's raw AES-128-GCM (`openssl speed -evp aes-128-gcm`, one key, 4 KiB records) and Gramine's own
# gramine-sgx-pf-crypt (when scripts/gramine-local has built it), and reports CPU
# (user + sys, whole process) per GiB and wall time.
#
#   bench/volume-import.sh [SIZE_MIB [WORKDIR]]    (default 1024 and a fresh folder in /dev/shm)
#
# The tree: 3/4 of SIZE in 24 large files, 1/4 in 64 KiB files (4,096 of them for 1 GiB). WORKDIR on a disk
# measures disk to disk (then the page cache is warm for the first reader, as after generation; the script does
# not drop caches). The import runs through ./cloister as users run it (C1 only, docs/pf.md), after a small
# warm-up import that builds the jar and its class cache; VOLUME_JAVA_OPTS adds JVM options (e.g.
# -XX:TieredStopAtLevel=4 for C2). Needs /usr/bin/time and openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-1024}
base=${2:-/dev/shm}
work=$(mktemp -d "$base/cloister-volume-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
jobs=$(nproc)

say() { printf '%s\n' "$*"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

say "volume-import: $size_mib MiB tree in $work, $jobs cores, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(load)"

# The tree.
src="$work/src"
mkdir -p "$src/big" "$src/small"
big_bytes=$(( size_mib * 1024 * 1024 * 3 / 4 / 24 ))
small_count=$(( size_mib * 1024 / 4 / 64 ))
for i in $(seq 1 24); do
  head -c "$big_bytes" /dev/urandom > "$src/big/file$i.bin"
done
head -c $(( small_count * 65536 )) /dev/urandom | split -b 65536 -a 5 -d - "$src/small/s"
total=$(du -sb "$src" | cut -f1)
files=$(find "$src" -type f | wc -l)
gib=$(awk -v b="$total" 'BEGIN { printf "%.4f", b / 1073741824 }')
say "tree: $files files, $total bytes ($gib GiB)"

# Warm-up: builds the CLI jar if needed, loads the class cache.
key="$work/vol.key"
"$root/cloister" pf keygen "$key" >/dev/null
mkdir -p "$work/warm"
head -c 1000000 /dev/urandom > "$work/warm/a"
"$root/cloister" volume import --key "$key" --quiet "$work/warm" "$work/warm-vol" >/dev/null
rm -rf "$work/warm" "$work/warm-vol"

timed() { # label, command...: prints "label wall user sys"
  local label=$1; shift
  /usr/bin/time -f '%e %U %S' -o "$work/time.out" "$@" >"$work/cmd.out"
  read -r wall user sys < "$work/time.out"
  printf '%s %s %s %s\n' "$label" "$wall" "$user" "$sys"
}
report() { # label wall user sys
  awk -v l="$1" -v w="$2" -v u="$3" -v s="$4" -v g="$gib" 'BEGIN {
    printf "%-28s wall %6.2f s  user %6.2f s  sys %5.2f s   per GiB: CPU %5.2f s (user %5.2f, sys %5.2f), wall %5.2f s, %6.0f MB/s\n",
      l, w, u, s, (u + s) / g, u / g, s / g, w / g, g * 1073741824 / w / 1e6 }'
}

say "load before: $(load)"
read -r _ w u s < <(timed cp cp -r "$src" "$work/copy")
report "cp -r" "$w" "$u" "$s"
rm -rf "$work/copy"

read -r _ w u s < <(CLOISTER_JAVA_OPTS="${VOLUME_JAVA_OPTS:-}" timed import \
  "$root/cloister" volume import --key "$key" --jobs "$jobs" --json "$src" "$work/vol")
report "cloister volume import" "$w" "$u" "$s"
say "  in-process: $(grep -o '"seconds"[^,}]*' "$work/cmd.out"), $(grep -o '"files"[^,}]*' "$work/cmd.out")"
read -r _ w2 u2 s2 < <(CLOISTER_JAVA_OPTS="${VOLUME_JAVA_OPTS:-}" timed verify \
  "$root/cloister" volume verify --key "$key" --jobs "$jobs" --json "$work/vol")
report "cloister volume verify" "$w2" "$u2" "$s2"
rm -rf "$work/vol"
say "load after import: $(load)"

# Gramine's own tool on the same tree (one thread; built by scripts/gramine-local), if present.
gpf=${GRAMINE_PF_CRYPT:-$(ls ~/.cache/cloister/gramine/*/bin/gramine-sgx-pf-crypt 2>/dev/null | head -1 || true)}
if [ -n "$gpf" ] && [ -x "$gpf" ]; then
  read -r _ w u s < <(cd "$work" && timed gramine "$gpf" encrypt -w "$key" -i src -o gramine-out 2>/dev/null)
  report "gramine-sgx-pf-crypt encrypt" "$w" "$u" "$s"
  rm -rf "$work/gramine-out"
else
  say "gramine-sgx-pf-crypt: not built here (scripts/gramine-local), skipped"
fi

# The raw cipher: one key, 4 KiB records (the format needs a fresh key per 4 KiB node, which costs more:
# docs/pf.md's PfCpuTime gives both), one process, then one per core. `openssl speed` divides by the user CPU time
# of each process (not wall time, unless -elapsed), and -multi adds the processes' rates: so the figure below is
# CPU-seconds per GiB, comparable with the import's user time.
for multi in 1 "$jobs"; do
  line=$(openssl speed -evp aes-128-gcm -bytes 4096 -seconds 3 ${multi:+-multi "$multi"} 2>/dev/null \
    | grep -i '^aes-128-gcm' | tail -1)
  kbs=$(awk '{ v = $NF; sub(/k$/, "", v); print v }' <<<"$line")
  awk -v k="$kbs" -v m="$multi" 'BEGIN {
    bps = k * 1000; printf "openssl speed aes-128-gcm 4 KiB, %s process(es): %.2f GB per user-CPU-second (summed) = %.2f user CPU-s per GiB\n",
      m, bps / 1e9, m * 1073741824 / bps }'
done
say "load at end: $(load), $(date -u '+%H:%M:%S UTC')"

#!/usr/bin/env bash
# Times `cloister build` and `cloister bundle verify` on a generated tree of SIZE_MIB (default 1024) MiB:
# 75% in 32 MiB files, the rest in 64 KiB files, plus a tiny #! entrypoint. Prints seconds and MB/s.
# Usage: bench/bundle-build.sh [SIZE_MIB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-1024}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
app="$work/app"
mkdir -p "$app/big" "$app/small"
printf '#!/bin/sh\necho ok\n' > "$app/run.sh"
chmod +x "$app/run.sh"
big=$((size * 3 / 4 / 32))
for i in $(seq 1 "$big"); do head -c $((32 << 20)) /dev/urandom > "$app/big/f$i"; done
small=$(( (size - big * 32) * 16 ))
head -c $((small * 65536)) /dev/urandom | split -b 65536 -a 5 - "$app/small/s"
cat "$app"/big/* "$app"/small/* > /dev/null   # warm the page cache: measure hashing, not the disk
bytes=$(du -sb "$app" | cut -f1)
cli() { "$root/cloister" "$@"; }
cli --version >/dev/null   # builds the jar if needed, outside the timing
t0=$(date +%s.%N)
cli build --dir "$app" --entrypoint run.sh --out "$work/b" >/dev/null
t1=$(date +%s.%N)
cli bundle verify "$work/b" >/dev/null
t2=$(date +%s.%N)
awk -v b="$bytes" -v a="$t0" -v m="$t1" -v z="$t2" -v n="$(nproc)" 'BEGIN {
  printf "tree %.0f MB on %d cores\n", b / 1e6, n;
  printf "build  %.2f s  %.0f MB/s (copy + hash + manifest, JVM start included)\n", m - a, b / 1e6 / (m - a);
  printf "verify %.2f s  %.0f MB/s (re-hash every file, JVM start included)\n", z - m, b / 1e6 / (z - m);
}'

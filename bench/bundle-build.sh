#!/usr/bin/env bash
# Times `cloister build` and `cloister bundle verify` on a generated tree of SIZE_MIB (default 1024) MiB:
# 75% in 32 MiB files, the rest in 64 KiB files, plus a tiny #! entrypoint. Prints seconds, MB/s wall and
# MB per CPU-second (user+sys of the whole JVM, from /usr/bin/time; stable on a loaded machine, unlike wall time).
# The tree and the bundle live in BENCH_DIR (default /dev/shm), so the disk does not enter the figures.
# Usage: bench/bundle-build.sh [SIZE_MIB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-1024}
work=$(mktemp -d -p "${BENCH_DIR:-/dev/shm}")
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
# Warm-up on a tiny tree: the same commands once before the timed runs.
mkdir -p "$work/warm"
cp "$app/run.sh" "$work/warm/"
cli build --dir "$work/warm" --entrypoint run.sh --out "$work/warm.b" >/dev/null
cli bundle verify "$work/warm.b" >/dev/null
rm -rf "$work/warm" "$work/warm.b"
# The first command after a build starts ./cloister's class-cache training in the background: let it finish, so
# that it neither competes with the timed runs nor leaves them without the cache.
cache_dir=${CLOISTER_AOT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cloister/aot}
for _ in $(seq 1 240); do ls -d "$cache_dir"/cli-*.lock >/dev/null 2>&1 || break; sleep 0.5; done
/usr/bin/time -f "%e %U %S" -o "$work/t1" "$root/cloister" build --dir "$app" --entrypoint run.sh --out "$work/b" >/dev/null
/usr/bin/time -f "%e %U %S" -o "$work/t2" "$root/cloister" bundle verify "$work/b" >/dev/null
read -r bw bu bs < "$work/t1"
read -r vw vu vs < "$work/t2"
awk -v b="$bytes" -v bw="$bw" -v bu="$bu" -v bs="$bs" -v vw="$vw" -v vu="$vu" -v vs="$vs" \
    -v n="$(nproc)" -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  printf "tree %.0f MB on %d cores, load average %s\n", b / 1e6, n, l;
  printf "build  %.2f s  %.0f MB/s wall  %.0f MB per CPU-second (copy + hash + manifest, JVM start included)\n",
      bw, b / 1e6 / bw, b / 1e6 / (bu + bs);
  printf "verify %.2f s  %.0f MB/s wall  %.0f MB per CPU-second (re-hash every file, JVM start included)\n",
      vw, b / 1e6 / vw, b / 1e6 / (vu + vs);
}'

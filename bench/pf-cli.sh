#!/usr/bin/env bash
# Times `cloister pf` on a 1 GiB file and on a 1 GiB directory tree in /dev/shm (no disk I/O), with the heap
# capped at 256 MiB, and reports MB/s, the peak heap after GC (from the GC log) and the peak RSS.
#
#   bench/pf-cli.sh [SIZE_MIB]        (default 1024; the directory holds 16 files of SIZE_MIB/16)
#
# Needs /usr/bin/time (Debian package "time"). Uses the jar in cloister-cli/target, building it if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
java=$("$root/scripts/java-home")/bin/java
size_mib=${1:-1024}
jar="$root/cloister-cli/target/cloister-cli.jar"
[ -f "$jar" ] || "$root/mvnw" -q -B -DskipTests -pl cloister-cli -am package >&2

work=$(mktemp -d /dev/shm/cloister-pf-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmp"

# Extra JVM options for every run, e.g. PF_JAVA_OPTS="-XX:+UseSerialGC" to compare collectors. The heap cap
# stays: the issue requires that the command works within 256 MiB whatever the file size.
# The JIT setting ./cloister uses for `cloister pf` (C1 only: the bulk AES-GCM is native code); PF_JIT_OPTS=""
# measures the JVM's default tiered compilation instead. PF_JAVA_OPTS comes after and can override it.
extra_opts="${PF_JIT_OPTS--XX:TieredStopAtLevel=1} ${PF_JAVA_OPTS:-}"

# One run of the CLI: prints "seconds heap rss cpu inproc jit gc", heap as "peak-before-GC/peak-live-after-GC";
# inproc = the command's own --json "seconds" (after JVM start-up: listing, reading, crypto, writing, rename);
# jit and gc = CPU seconds of the JIT compiler and GC threads, sampled from /proc every 0.1 s (so a thread that
# lives less than 0.1 s is missed; the JIT and GC threads live as long as the JVM).
run() {
  local gclog="$work/gc.log"
  rm -f "$gclog"
  # shellcheck disable=SC2086
  /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" \
    "$java" -Xmx256m --enable-native-access=ALL-UNNAMED $extra_opts -Djava.io.tmpdir="$work/tmp" -Xlog:gc:file="$gclog" -jar "$jar" "$@" --json \
    >"$work/out.json" &
  local pid=$! tpid="" jit=0 gc=0
  declare -A seen
  sleep 0.05
  tpid=$(pgrep -P "$pid" -x java || true)
  while kill -0 "$pid" 2>/dev/null; do
    for t in /proc/${tpid:-none}/task/*; do
      local st name
      st=$(cat "$t/stat" 2>/dev/null) || continue
      name=$(cat "$t/comm" 2>/dev/null) || continue
      # shellcheck disable=SC2086
      set -- ${st##*) }
      seen["${t##*/} $name"]=$(( ${12} + ${13} ))
    done
    sleep 0.1
  done
  if ! wait "$pid"; then
    echo "FAILED"
    return
  fi
  for k in "${!seen[@]}"; do
    case "$k" in
      *Compiler*) jit=$((jit + seen[$k])) ;;
      *GC*|*G1*|*"Parallel "*) gc=$((gc + seen[$k])) ;;
    esac
  done
  local secs rss_kib heap user sys inproc
  read -r secs rss_kib user sys < "$work/time.out"
  inproc=$(grep -o '"seconds" *: *[0-9.]*' "$work/out.json" | grep -o '[0-9.]*$')
  # GC lines look like "... Pause Young (Normal) (G1 Evacuation Pause) 24M->3M(256M) 1.234ms". The largest
  # "before" figure is the most the heap ever held (garbage included, so it mostly shows how far the collector
  # lets the young generation grow under -Xmx256m); the largest "after" figure is the most that was ever live.
  before=$(grep -o '[0-9]*M->[0-9]*M' "$gclog" | sed 's/M->.*//' | sort -n | tail -1)
  after=$(grep -o '[0-9]*M->[0-9]*M' "$gclog" | sed 's/.*->//; s/M//' | sort -n | tail -1)
  echo "$secs ${before:-0}/${after:-0} $((rss_kib / 1024)) $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') ${inproc:-0} $(awk -v j="$jit" -v g="$gc" 'BEGIN { print j / 100, g / 100 }')"
}

# On a shared machine wall-clock speed mostly measures the other jobs; CPU seconds (user + system, all
# threads) show what the work itself costs.
report() { # label bytes secs heap rss cpu inproc jit gc
  # A run that failed (for instance because it needed more than the 256 MiB heap) stops the benchmark.
  if [ "$3" = FAILED ]; then
    echo "$1: the command failed under -Xmx256m (see above)" >&2
    exit 1
  fi
  awk -v l="$1" -v b="$2" -v s="$3" -v h="$4" -v r="$5" -v c="$6" -v i="$7" -v j="$8" -v g="$9" \
    'BEGIN { printf "%-26s %6.2f s %5.0f MB/s (in-process %6.2f s %5.0f MB/s)  cpu %5.2f s (jit %4.2f, gc %4.2f)  heap %7s MiB  RSS %4d MiB\n", l, s, b / s / 1e6, i, b / i / 1e6, c, j, g, h, r }'
}

echo "cloister pf on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), JVM options: -Xmx256m ${extra_opts}"
"$java" --enable-native-access=ALL-UNNAMED -jar "$jar" pf keygen "$work/key" >/dev/null

bytes=$((size_mib * 1024 * 1024))
head -c "$bytes" /dev/urandom > "$work/plain"
read -r s h r c i j g < <(run pf encrypt --key "$work/key" --path /bench/plain "$work/plain" "$work/plain.pf")
report "encrypt ${size_mib} MiB file" "$bytes" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
read -r s h r c i j g < <(run pf decrypt --key "$work/key" --path /bench/plain "$work/plain.pf" "$work/plain.out")
report "decrypt ${size_mib} MiB file" "$bytes" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
cmp -s "$work/plain" "$work/plain.out" || { echo "decrypted file differs" >&2; exit 1; }
rm -f "$work/plain.out" "$work/plain.pf"

mkdir -p "$work/tree/a" "$work/tree/b"
part=$((bytes / 16))
for i in $(seq 0 15); do
  head -c "$part" "$work/plain" > "$work/tree/$([ $((i % 2)) = 0 ] && echo a || echo b)/f$i"
done
rm -f "$work/plain"
declare -A secs cpus inprocs
for jobs in 1 2; do
  rm -rf "$work/tree.pf$jobs"
  read -r s h r c i j g < <(run pf encrypt --key "$work/key" --path /bench/tree --jobs "$jobs" "$work/tree" "$work/tree.pf$jobs")
  report "encrypt 16-file tree, -j $jobs" "$((part * 16))" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
  secs[enc$jobs]=$s; cpus[enc$jobs]=$c; inprocs[enc$jobs]=$i
done
for jobs in 1 2; do
  read -r s h r c i j g < <(run pf decrypt --key "$work/key" --path /bench/tree --jobs "$jobs" "$work/tree.pf1" "$work/tree.out$jobs")
  report "decrypt 16-file tree, -j $jobs" "$((part * 16))" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
  secs[dec$jobs]=$s; cpus[dec$jobs]=$c; inprocs[dec$jobs]=$i
  rm -rf "$work/tree.out$jobs"
done
awk -v e1="${secs[enc1]}" -v e2="${secs[enc2]}" -v d1="${secs[dec1]}" -v d2="${secs[dec2]}" \
  -v ie1="${inprocs[enc1]}" -v ie2="${inprocs[enc2]}" -v id1="${inprocs[dec1]}" -v id2="${inprocs[dec2]}" \
  -v ce1="${cpus[enc1]}" -v ce2="${cpus[enc2]}" -v cd1="${cpus[dec1]}" -v cd2="${cpus[dec2]}" \
  'BEGIN { printf "speed-up with 2 jobs (wall clock, whole command): encrypt %.2fx, decrypt %.2fx\n", e1 / e2, d1 / d2;
           printf "speed-up with 2 jobs (in-process, after JVM start-up): encrypt %.2fx, decrypt %.2fx\n", ie1 / ie2, id1 / id2;
           printf "CPU used by 2 jobs vs 1: encrypt %.2fx, decrypt %.2fx (1.00x = no parallel overhead)\n", ce2 / ce1, cd2 / cd1 }'

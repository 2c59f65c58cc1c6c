#!/usr/bin/env bash
# Times `cloister pf` on a 1 GiB file and on a 1 GiB directory tree in /dev/shm (no disk I/O), with the heap
# capped at 256 MiB, and reports MB/s, the peak heap after GC (from the GC log) and the peak RSS.
#
#   bench/pf-cli.sh [SIZE_MIB [ROUNDS]]   (default 1024 and 3; the directory holds 16 files of SIZE_MIB/16)
#
# Runs the command as users do, through ./cloister (which builds the jar if needed and keeps a JDK class cache),
# after a small warm-up round that also lets the class cache be made. The directory runs
# (1 and 2 jobs, encrypt and decrypt) are repeated ROUNDS times, interleaved, and the speed-ups are medians.
# Needs /usr/bin/time (Debian package "time").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
java=$("$root/scripts/java-home")/bin/java
size_mib=${1:-1024}
rounds=${2:-3}

work=$(mktemp -d /dev/shm/cloister-pf-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmp"

# Extra JVM options for every run, e.g. PF_JAVA_OPTS="-XX:+UseSerialGC" to compare collectors. The heap cap
# stays: the issue requires that the command works within 256 MiB whatever the file size.
# ./cloister runs `cloister pf` with C1 only (the bulk AES-GCM is native code); PF_JAVA_OPTS=-XX:TieredStopAtLevel=4
# measures the JVM's default tiered compilation instead, PF_JAVA_OPTS=-XX:+UseSerialGC another collector.
extra_opts="${PF_JAVA_OPTS:-}"

# One run of the CLI: prints "seconds heap rss cpu inproc jit gc", heap as "peak-before-GC/peak-live-after-GC";
# inproc = the command's own --json "seconds" (after JVM start-up: listing, reading, crypto, writing, rename);
# jit and gc = CPU seconds of the JIT compiler and GC threads, sampled from /proc every 0.1 s (so a thread that
# lives less than 0.1 s is missed; the JIT and GC threads live as long as the JVM).
run() {
  local gclog="$work/gc.log"
  rm -f "$gclog"
  # shellcheck disable=SC2086
  CLOISTER_JAVA_OPTS="-Xmx256m $extra_opts -Djava.io.tmpdir=$work/tmp -Xlog:gc:file=$gclog" \
    /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "$root/cloister" "$@" --json >"$work/out.json" &
  local pid=$! tpid="" jit=0 gc=0
  declare -A seen
  while kill -0 "$pid" 2>/dev/null; do
    # ./cloister replaces itself with java (exec) once it has checked the jar.
    [ -n "$tpid" ] || tpid=$(pgrep -P "$pid" -x java || true)
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
    'BEGIN { printf "%-30s %6.2f s %5.0f MB/s (in-process %6.2f s %5.0f MB/s)  cpu %5.2f s (jit %4.2f, gc %4.2f)  heap %7s MiB  RSS %4d MiB\n", l, s, b / s / 1e6, i, b / i / 1e6, c, j, g, h, r }'
}

echo "cloister pf on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), JVM options: -Xmx256m ${extra_opts}"
"$root/cloister" pf keygen "$work/key" >/dev/null

# Warm-up: a small round of the same commands first.
mkdir -p "$work/warm"
head -c 1048576 /dev/urandom > "$work/warm/a"
cp "$work/warm/a" "$work/warm/b"
run pf encrypt --key "$work/key" --path /bench/warm "$work/warm" "$work/warm.pf" >/dev/null
run pf decrypt --key "$work/key" --path /bench/warm "$work/warm.pf" "$work/warm.out" >/dev/null
rm -rf "$work/warm" "$work/warm.pf" "$work/warm.out"
# The first command after a build starts ./cloister's class-cache training in the background: let it finish, so
# that it neither competes with the timed runs nor leaves them without the cache.
cache_dir=${CLOISTER_AOT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cloister/aot}
for _ in $(seq 1 240); do ls -d "$cache_dir"/cli-*.lock >/dev/null 2>&1 || break; sleep 0.5; done

bytes=$((size_mib * 1024 * 1024))
head -c "$bytes" /dev/urandom > "$work/plain"
# One file, on one thread and split among two (--jobs 2: each thread takes 384 KiB groups of nodes in turn).
for jobs in 1 2; do
  read -r s h r c i j g < <(run pf encrypt --key "$work/key" --path /bench/plain --jobs "$jobs" "$work/plain" "$work/plain.pf")
  report "encrypt ${size_mib} MiB file, -j $jobs" "$bytes" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
  read -r s h r c i j g < <(run pf decrypt --key "$work/key" --path /bench/plain --jobs "$jobs" "$work/plain.pf" "$work/plain.out")
  report "decrypt ${size_mib} MiB file, -j $jobs" "$bytes" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
  cmp -s "$work/plain" "$work/plain.out" || { echo "decrypted file differs" >&2; exit 1; }
  rm -f "$work/plain.out" "$work/plain.pf"
done

mkdir -p "$work/tree/a" "$work/tree/b"
part=$((bytes / 16))
for i in $(seq 0 15); do
  head -c "$part" "$work/plain" > "$work/tree/$([ $((i % 2)) = 0 ] && echo a || echo b)/f$i"
done
rm -f "$work/plain"
# Each round: encrypt with 1 and 2 jobs, decrypt with 1 and 2 jobs. The ratios of each round go to a list; the
# medians are reported (one round on a shared machine can be off by a third).
ratios=()
for round in $(seq 1 "$rounds"); do
  declare -A secs cpus inprocs
  for op in encrypt decrypt; do
    for jobs in 1 2; do
      if [ "$op" = encrypt ]; then
        rm -rf "$work/tree.pf$jobs"
        read -r s h r c i j g < <(run pf encrypt --key "$work/key" --path /bench/tree --jobs "$jobs" "$work/tree" "$work/tree.pf$jobs")
      else
        read -r s h r c i j g < <(run pf decrypt --key "$work/key" --path /bench/tree --jobs "$jobs" "$work/tree.pf1" "$work/tree.out$jobs")
        rm -rf "$work/tree.out$jobs"
      fi
      report "$op 16-file tree, -j $jobs" "$((part * 16))" "$s" "$h" "$r" "$c" "$i" "$j" "$g"
      secs[$op$jobs]=$s; cpus[$op$jobs]=$c; inprocs[$op$jobs]=$i
    done
  done
  ratios+=("$(awk -v e1="${secs[encrypt1]}" -v e2="${secs[encrypt2]}" -v d1="${secs[decrypt1]}" -v d2="${secs[decrypt2]}" \
    -v ie1="${inprocs[encrypt1]}" -v ie2="${inprocs[encrypt2]}" -v id1="${inprocs[decrypt1]}" -v id2="${inprocs[decrypt2]}" \
    -v ce1="${cpus[encrypt1]}" -v ce2="${cpus[encrypt2]}" -v cd1="${cpus[decrypt1]}" -v cd2="${cpus[decrypt2]}" \
    'BEGIN { printf "%.2f %.2f %.2f %.2f %.2f %.2f", e1 / e2, d1 / d2, ie1 / ie2, id1 / id2, ce2 / ce1, cd2 / cd1 }')")
  echo "round $round: 2 jobs vs 1, whole command encrypt/decrypt, in-process encrypt/decrypt, CPU encrypt/decrypt: ${ratios[-1]}"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
col() { printf '%s\n' "${ratios[@]}" | awk -v c="$1" '{ print $c }' | median; }
echo "median of $rounds rounds:"
echo "speed-up with 2 jobs (wall clock, whole command): encrypt $(col 1)x, decrypt $(col 2)x"
echo "speed-up with 2 jobs (in-process, after JVM start-up): encrypt $(col 3)x, decrypt $(col 4)x"
echo "CPU used by 2 jobs vs 1: encrypt $(col 5)x, decrypt $(col 6)x (1.00x = no parallel overhead)"

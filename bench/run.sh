#!/usr/bin/env bash
# Builds and runs Cloister's JMH benchmarks. Arguments go to JMH, e.g.: bench/run.sh 'Pf.*' -f 1 -wi 3 -i 5
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
java_home=$("$root/scripts/java-home")
"$root/mvnw" -q -B -DskipTests -pl bench -am package >&2
exec "$java_home/bin/java" -jar "$root/bench/target/cloister-bench.jar" "$@"

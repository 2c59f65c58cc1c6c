#!/usr/bin/env bash
# Orchestration overhead per pipeline step on the local executor with the sim backend: a chain of N steps whose
# program does nearly nothing (sh + cat), run with `cloister pipeline run`. For each step it reports, from the
# run's own records (state.json and each attempt's timing.json):
#   submit->program: from the orchestrator submitting the step to the program starting in its enclave
#                    (worker JVM start, bundle verification, key releases, input decryption, sandbox start)
#   total overhead:  the step's whole time minus its program's time (adds output encryption and publication,
#                    and the orchestrator noticing the end)
# Usage: bench/pipeline-overhead.sh [STEPS=8]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cloister="$root/cloister"
steps=${1:-8}
dir=$(mktemp -d /dev/shm/cloister-pipe-bench.XXXXXX)
trap 'kill $broker 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
port=$((20000 + RANDOM % 20000))
url="https://127.0.0.1:$port"
mkdir app && printf '#!/bin/sh\ncat /inputs/* > "$1"\necho "$2" >> "$1"\n' > app/step.sh && chmod +x app/step.sh
"$cloister" build --dir app --entrypoint step.sh --include /usr/bin/cat -o bundle >/dev/null
m=$("$cloister" bundle inspect bundle --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"])')
"$cloister" kbs serve --db kbs.db --master-key master.key --listen "127.0.0.1:$port" --tls-self-signed \
  --cert-out broker.pem --admin-token-file admin.token --allow-simulation >broker.log 2>&1 &
broker=$!
for _ in $(seq 1 120); do [ -s admin.token ] && [ -s broker.pem ] && break; sleep 0.5; done
kbs=(--url "$url" --ca broker.pem)
"$cloister" kbs namespace create lab "${kbs[@]}" --token-file admin.token >/dev/null
"$cloister" kbs token create --role owner --namespace lab --out owner.token "${kbs[@]}" --token-file admin.token >/dev/null
echo seed > seed.txt
{
  echo "name: chain"; echo "broker: $url"; echo "repository: repo"; echo "steps:"
  for i in $(seq 1 "$steps"); do
    echo "  - name: s$i"
    echo "    bundle: {path: bundle, policy: \"E:$m SIM:ALLOW\"}"
    if [ "$i" = 1 ]; then echo "    inputs: [{name: in, file: seed.txt, path: /inputs/in}]"
    else echo "    inputs: [{name: in, from: s$((i - 1)).out, path: /inputs/in}]"; fi
    echo "    outputs: [{name: out, path: /outputs/out}]"
    echo "    args: [/outputs/out, s$i]"
  done
} > chain.yaml
start=$(date +%s.%N)
"$cloister" pipeline run chain.yaml --runs runs --keys keys "${kbs[@]}" --token-file owner.token --namespace lab --max-parallel 1 >/dev/null 2>run.log
end=$(date +%s.%N)
run=$(ls runs)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $steps steps in $(python3 -c "print(round($end - $start, 1))") s"
python3 - "runs/$run" "$steps" <<'PY'
import json, sys, statistics
from datetime import datetime
run, n = sys.argv[1], int(sys.argv[2])
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
state = json.load(open(f"{run}/state.json"))
first, total = [], []
stages = {"worker JVM start": [], "job record, sandbox detection, broker TLS": [],
          "launcher JVM start (meanwhile the worker opens the bundle, fetches nonces and inputs)": [],
          "launcher measured": [], "keys released": [], "inputs decrypted": []}
for i in range(1, n + 1):
    st = state["steps"][f"s{i}"]
    assert st["phase"] == "DONE", st
    tim = json.load(open(f"{run}/steps/s{i}/attempt-1/timing.json"))
    program = t(tim["program_exited"]) - t(tim["inputs_decrypted"])
    first.append(t(tim["inputs_decrypted"]) - t(st["startedAt"]))
    marks = [t(st["startedAt"]), t(tim["workerStarted"]), t(tim["sandbox_starting"]), t(tim["launcher_started"]),
             t(tim["measured"]), t(tim["key_released"]), t(tim["inputs_decrypted"])]
    for k, a, b in zip(stages, marks, marks[1:]):
        stages[k].append(b - a)
    total.append(t(st["endedAt"]) - t(st["startedAt"]) - program)
    print(f"  s{i}: submit->program {first[-1]:.2f} s, total overhead {total[-1]:.2f} s")
print("  median per stage: " + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in stages.items()))
print(f"median submit->program {statistics.median(first):.2f} s, median total overhead {statistics.median(total):.2f} s per step")
PY

#!/usr/bin/env bash
# The confidential-job flow with one command per role, as three parties would run it (here all on this machine):
#   vendor: build a bundle of an unmodified program      -> cloister build
#   broker: a key broker on loopback                       -> cloister kbs serve
#   owner:  a namespace, a token, encrypted inputs, a job  -> cloister kbs ..., cloister job submit
#   worker: runs it in the (simulated) enclave             -> cloister worker run
#   owner:  verified, decrypted outputs and the key record -> cloister job fetch
# Needs gcc; uses the simulation backend (evidence labelled SIMULATED). Usage: examples/confidential-job/run.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cloister="$root/cloister"
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"
port=$((20000 + RANDOM % 20000))
url="https://127.0.0.1:$port"

echo "== vendor: build the bundle"
mkdir -p app && gcc -O2 -o app/count "$here/count.c"
"$cloister" build --dir app --entrypoint count -o bundle --name count --bundle-version 1.0
measurement=$("$cloister" bundle inspect bundle --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["measurement"])')

echo "== broker: start on $url"
"$cloister" kbs serve --db "$dir/kbs.db" --master-key "$dir/master.key" --listen "127.0.0.1:$port" \
  --tls-self-signed --cert-out "$dir/broker.pem" --admin-token-file "$dir/admin.token" --allow-simulation \
  >"$dir/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do [ -s "$dir/admin.token" ] && [ -s "$dir/broker.pem" ] && break; sleep 0.5; done
kbs=(--url "$url" --ca "$dir/broker.pem")

echo "== owner: namespace, token, job"
"$cloister" kbs namespace create lab "${kbs[@]}" --token-file "$dir/admin.token"
"$cloister" kbs token create --role owner --namespace lab --out "$dir/owner.token" "${kbs[@]}" --token-file "$dir/admin.token"
printf 'the quick brown fox\njumps over\nthe lazy dog\n' > secret.txt
cat > job.yaml <<YAML
name: count
bundle: {path: bundle, policy: "E:$measurement SIM:ALLOW"}
inputs: [{name: text, file: secret.txt, path: /inputs/secret.txt}]
outputs: [{name: counts, path: /outputs/counts.tsv}]
args: [/inputs/secret.txt, /outputs/counts.tsv]
broker: $url
repository: repo
YAML
id=$("$cloister" job submit job.yaml "${kbs[@]}" --token-file "$dir/owner.token" --namespace lab --keys "$dir/keys")
echo "job $id"

echo "== worker: run it"
"$cloister" worker run "$id" --repository repo "${kbs[@]}"

echo "== owner: fetch"
"$cloister" job fetch "$id" results --repository repo --keys "$dir/keys" "${kbs[@]}" --token-file "$dir/owner.token" \
  --namespace lab
cat results/counts

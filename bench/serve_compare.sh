#!/usr/bin/env bash
# `mmfuse serve` vs the FastAPI + uvicorn peer (../shared/peers/serve_peer.py), side by side on
# the AV-MNIST `lf` model with the same request body (a real test sample: 28x28 PNG + 8 kHz WAV,
# bench/serve_body.py), loaded by wrk (bench/serve_post.lua) at each concurrency. Prints a
# markdown table of requests/s, p50/p99 latency, non-2xx answers and their ratios, then mmfuse's
# RSS after the first 1,000 requests and after --rss-requests (both loaded at the largest
# concurrency, so the figures compare the same number of threads and buffers), with where that
# memory is (bench/rss_breakdown.py: main heap, malloc arenas, stacks, other).
#
#   bench/serve_compare.sh [--build DIR] [--duration 10s] [--conns "1 8 64"] [--threads 1]
#                          [--run RUN_DIR] [--rss-requests 100000] [--out DIR]
#
# Without --run, a 1-epoch lf run on 400 training samples is trained once into OUT/lf_run (speed
# does not depend on the weights; the peer serves its seeded initialisation). mmfuse serves with
# `--threads` intra-op threads; the peer runs `--workers 2` processes of 1 torch thread each.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build" duration=10s conns="1 8 64" threads=1 run="" out="" rss_requests=100000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --conns) conns="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --run) run="$2"; shift 2 ;;
    --rss-requests) rss_requests="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$build/mmfuse"
py=/usr/bin/python3
peer="$root/../shared/peers/serve_peer.py"
data="$root/../shared/data/avmnist"
[[ -x "$bin" ]] || { echo "missing $bin; build the mmfuse target" >&2; exit 2; }
[[ -f "$peer" && -d "$data" ]] || { echo "missing $peer or $data" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 2; }
out="${out:-$build/bench-serve}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ -z "$run" ]]; then
  run="$out/lf_run"
  if [[ ! -f "$run/model.safetensors" ]]; then
    echo "training a 1-epoch lf run into $run" >&2
    rm -rf "$run"
    "$bin" -q train --config "$root/configs/avmnist/lf.yaml" train.epochs=1 train.limit_train=400 \
      --out "$run" --no-progress >"$out/train.log" 2>&1 || { echo "train failed: $out/train.log" >&2; exit 1; }
  fi
fi
body="$out/body.json"
"$py" "$here/serve_body.py" --data "$data" --index 0 --out "$body" >&2
export BODY_FILE="$body"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url
  for _ in $(seq 1 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

mport=$(free_port)
"$bin" serve --run "lf=$run" --port "$mport" --threads "$threads" --no-access-log \
  >"$out/serve.log" 2>&1 &
mpid=$!; pids+=("$mpid")
pport=$(free_port)
"$py" "$peer" --model lf --workers 2 --port "$pport" >"$out/peer.log" 2>&1 &
ppid=$!; pids+=("$ppid")
wait_http "http://127.0.0.1:$mport/v2/health/ready"
wait_http "http://127.0.0.1:$pport/health"
murl="http://127.0.0.1:$mport/v1/models/lf:predict"
purl="http://127.0.0.1:$pport/predict"
# Both answer the body, and mmfuse's answer is a prediction.
curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "$murl" | grep -q '"digit"'
curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "$purl" | grep -q '"label"'

served() { curl -s "http://127.0.0.1:$mport/metrics" | awk '/^mmfuse_requests_total\{route="v1_predict",status="200"\}/ {print $2}'; }
max_conns=$(echo $conns | tr ' ' '\n' | sort -n | tail -1)
load_until() { # requests: load mmfuse at the largest concurrency until it has served that many
  while [[ "$(served)" -lt "$1" ]]; do
    wrk -t2 -c"$max_conns" -d1s -s "$here/serve_post.lua" "$murl" >/dev/null
  done
}
# Warm-up: the first 1,000 requests, then mmfuse's RSS.
load_until 1000
requests_first=$(served)
rss_first=$(rss_kb "$mpid")
"$py" "$here/rss_breakdown.py" "$mpid" >"$out/rss_first.txt"

measure() { # side url conns -> "rps p50_ms p99_ms non2xx"
  local threads_wrk=$(( $3 < 4 ? $3 : 4 ))
  wrk -t"$threads_wrk" -c"$3" -d"$duration" --latency -s "$here/serve_post.lua" "$2" >"$out/wrk_$1_$3.txt"
  "$py" - "$out/wrk_$1_$3.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r'^\s*' + label + r'\s+([\d.]+)(us|ms|s)\s*$', t, re.M)
    return float(m.group(1)) * {'us': 1e-3, 'ms': 1, 's': 1e3}[m.group(2)]
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
bad = re.search(r'Non-2xx or 3xx responses: (\d+)', t)
errs = re.search(r'Socket errors: (.*)', t)
print(rps, ms('50%'), ms('99%'), int(bad.group(1)) if bad else 0, '"' + (errs.group(1) if errs else '') + '"')
PY
}

echo
echo "mmfuse serve vs serve_peer.py (FastAPI + uvicorn, --workers 2), AV-MNIST lf, wrk $duration per row, $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| concurrency | mmfuse req/s | peer req/s | ratio | mmfuse p50 ms | peer p50 ms | mmfuse p99 ms | peer p99 ms | p99 ratio | non-2xx (mmfuse/peer) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in $conns; do
  read -r mr m50 m99 mbad merr < <(measure mmfuse "$murl" "$c")
  read -r pr p50 p99 pbad perr < <(measure peer "$purl" "$c")
  ratio=$("$py" -c "print(f'{$mr / $pr:.2f}x')")
  p99r=$("$py" -c "print(f'{$m99 / $p99:.2f}')")
  echo "| $c | $mr | $pr | $ratio | $m50 | $p50 | $m99 | $p99 | $p99r | $mbad/$pbad |"
done
load_until "$rss_requests"
total=$(served)
rss_last=$(rss_kb "$mpid")
"$py" "$here/rss_breakdown.py" "$mpid" >"$out/rss_last.txt"
echo
bad=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^mmfuse_requests_total\{route="v1_predict",status="[^2]/ {s += $2} END {print s + 0}')
echo "mmfuse RSS: $rss_first kB after $requests_first requests, $rss_last kB after $total requests ($("$py" -c "print(f'{$rss_last / $rss_first:.3f}')")x); non-2xx answers of mmfuse in all: $bad"
curl -s "http://127.0.0.1:$mport/metrics" | grep -E '^mmfuse_batch_size_(sum|count)' || true
echo "where the resident memory is (bench/rss_breakdown.py), after the first requests:"
cat "$out/rss_first.txt"
echo "after all of them:"
cat "$out/rss_last.txt"

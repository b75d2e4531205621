#!/usr/bin/env bash
# Data-parallel scaling of AV-MNIST `lf` training on this machine, mmfuse and PyTorch DDP side by
# side in one run (ROUNDS alternating rounds; medians and ratios):
#   bench:  training steps on synthetic batches of 40 per process (`mmfuse bench`, the peer's
#           `bench`), 1 process x 2 threads, and 2 processes x 1 thread under torchrun (Gloo);
#   epoch:  one `mmfuse train` epoch of configs/avmnist/lf.yaml on 20,000 samples (data loading
#           included, summary.json's train_samples_per_s and the command's wall clock),
#           1 process x 2 threads with batch 40, and 2 processes x 1 thread with batch 20 each
#           (the same global batch, so the same training).
#
#   bench/ddp_scaling.sh [--rounds 3] [--steps 50] [--epoch-rounds 1] [--limit 20000]
#                        [--build DIR] [--out DIR]
#
# Debian's torchrun on Python 3.11 needs --redirects 2 --tee 1 (it cannot map the default "0").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
rounds=3 steps=50 epoch_rounds=1 limit=20000 build="$root/build" out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --epoch-rounds) epoch_rounds="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$(cd "$build" && pwd)/mmfuse"
peer="$root/../shared/peers/avmnist_peer.py"
py=/usr/bin/python3
torchrun=(/usr/bin/torchrun --standalone --nproc_per_node 2 --redirects 2 --tee 1)
[[ -x "$bin" && -f "$peer" && -x /usr/bin/torchrun ]] ||
  { echo "needs $bin, $peer and /usr/bin/torchrun (python3-torch)" >&2; exit 2; }
out="${out:-$build/bench-ddp}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
results="$out/results.jsonl"
: >"$results"
cfg="$root/configs/avmnist/lf.yaml"
export OMP_NUM_THREADS=1 GLOO_SOCKET_IFNAME=lo
json_of() { grep -o '{.*}' | tail -n 1; }  # torchrun prefixes lines with [default0]:
record() { # variant json
  "$py" -c 'import json,sys; d=json.loads(sys.argv[2]); d["variant"]=sys.argv[1]; print(json.dumps(d))' \
    "$1" "$2" >>"$results"
  echo "$1: $2" >&2
}
record load "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
for ((r = 1; r <= rounds; r++)); do
  record "mmfuse 1x2 bench" "$("$bin" bench --config "$cfg" --batch 40 --steps "$steps" --threads 2 --json | json_of)"
  record "mmfuse 2x1 bench" "$("${torchrun[@]}" --no_python "$bin" bench --config "$cfg" --batch 40 \
    --steps "$steps" --threads 1 --json 2>/dev/null | json_of)"
  record "peer 2x1 bench" "$("${torchrun[@]}" "$peer" bench --model lf --batch 40 --steps "$steps" \
    --threads 1 2>/dev/null | json_of)"
  record "peer 1x2 bench" "$("$py" "$peer" bench --model lf --batch 40 --steps "$steps" --threads 2 | json_of)"
done
epoch() { # variant, command...
  local variant="$1" dir="$out/run"
  shift
  rm -rf "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" train --config "$cfg" train.epochs=1 "train.limit_train=$limit" --out "$dir" --no-progress \
    "${extra[@]}" >"$out/epoch.log" 2>&1 || { echo "train failed: $out/epoch.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  record "$variant" "$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({"train_samples_per_s": s["train_samples_per_s"], "wall_s": round(float(sys.argv[2]), 2), "processes": s["processes"], "test_accuracy": s["test"]["primary"]}))' "$dir/summary.json" "$(echo "$t1 - $t0" | bc)")"
}
for ((r = 1; r <= epoch_rounds; r++)); do
  extra=(train.threads=2 train.batch_size=40)
  epoch "mmfuse 1x2 epoch" "$bin"
  extra=(train.threads=1 train.batch_size=20)
  epoch "mmfuse 2x1 epoch" "${torchrun[@]}" --no_python "$bin"
done
record load "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
"$py" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(variant, key="train_samples_per_s"):
    v = [r[key] for r in rows if r["variant"] == variant and key in r]
    return statistics.median(v) if v else float("nan")
print("| variant | global samples/s (median) |\n|---|---|")
for v in ["mmfuse 1x2 bench", "mmfuse 2x1 bench", "peer 1x2 bench", "peer 2x1 bench",
          "mmfuse 1x2 epoch", "mmfuse 2x1 epoch"]:
    extra = f" (wall {med(v, 'wall_s'):.1f} s)" if "epoch" in v else ""
    print(f"| {v} | {med(v):.1f}{extra} |")
r1 = med("mmfuse 2x1 bench") / med("peer 2x1 bench")
r2 = med("mmfuse 2x1 epoch") / med("mmfuse 1x2 epoch")
r3 = med("mmfuse 2x1 bench") / med("mmfuse 1x2 bench")
print(f"\nmmfuse DDP / PyTorch DDP (bench, 2 x 1 thread): {r1:.2f}x (goal >= 1.5)")
print(f"mmfuse 2 x 1 thread / 1 x 2 threads, lf epoch: {r2:.2f}x (goal >= 0.9); bench: {r3:.2f}x")
PY

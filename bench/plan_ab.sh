#!/usr/bin/env bash
# The inference plan's A/B (src/mmfuse/runtime/plan.h): for every AV-MNIST model, ROUNDS rounds
# of `mmfuse bench --inference-only` on the module path (--no-plan), then through the plan, then
# ONNX Runtime fp32 on the peer's exported model (../shared/peers/ort_bench.js), back to back, every
# engine at THREADS threads. Prints one JSON line per run with the 1-minute load average, then a
# markdown table of medians.
#
#   bench/plan_ab.sh [--threads 2] [--rounds 3] [--steps 50] [--models "image audio lf tf lrtf xattn"]
#                    [--build DIR] [--onnx-dir DIR] [--ort-modules DIR]
#
# --onnx-dir holds M/model.onnx per model (made when missing with
# `avmnist_peer.py export --model M --out DIR/M --onnx`, which needs Debian's python3-onnx);
# --ort-modules is a node_modules folder with onnxruntime-node (ORT columns skipped without it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
threads=2 rounds=3 steps=50 build="$root/build" onnx_dir="" ort_modules=""
models="image audio lf tf lrtf xattn"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --onnx-dir) onnx_dir="$2"; shift 2 ;;
    --ort-modules) ort_modules="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$build/mmfuse"
[[ -x "$bin" ]] || { echo "missing $bin; build the mmfuse target" >&2; exit 2; }
peers="$root/../shared/peers"
onnx_dir="${onnx_dir:-$build/plan-ab-onnx}"
lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
for m in $models; do
  cfg="$root/configs/avmnist/$m.yaml"
  ort=""
  if [[ -n "$ort_modules" && -d "$ort_modules/onnxruntime-node" ]]; then
    if [[ ! -f "$onnx_dir/$m/model.onnx" ]]; then
      /usr/bin/python3 "$peers/avmnist_peer.py" export --model "$m" --out "$onnx_dir/$m" --onnx \
        --threads 1 >/dev/null
    fi
    ort="$onnx_dir/$m/model.onnx"
  fi
  for ((r = 0; r < rounds; ++r)); do
    for variant in module plan; do
      flag=""; [[ $variant == module ]] && flag="--no-plan"
      l="$(load)"
      j="$("$bin" bench --config "$cfg" --threads "$threads" --steps "$steps" --inference-only \
        $flag --json)"
      echo "{\"model\": \"$m\", \"engine\": \"mmfuse-$variant\", \"load\": $l, \"result\": $j}" |
        tee -a "$lines"
    done
    if [[ -n "$ort" ]]; then
      l="$(load)"
      j="$(NODE_PATH="$ort_modules" node "$peers/ort_bench.js" "$ort" --threads "$threads" \
        --steps "$steps")"
      echo "{\"model\": \"$m\", \"engine\": \"onnxruntime\", \"load\": $l, \"result\": $j}" |
        tee -a "$lines"
    fi
  done
done
/usr/bin/python3 - "$lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(m, e, key):
    v = [r["result"][key] for r in rows if r["model"] == m and r["engine"] == e and key in r["result"]]
    return statistics.median(v) if v else None
def load(m):
    v = [r["load"] for r in rows if r["model"] == m]
    return f"{min(v):.1f}-{max(v):.1f}"
models = list(dict.fromkeys(r["model"] for r in rows))
print("| model | batch | module ms | plan ms | plan / module | ORT ms | plan / ORT | load |")
print("|---|---|---|---|---|---|---|---|")
for m in models:
    for b in ("batch1_p50_ms", "batch40_p50_ms"):
        a, p, o = med(m, "mmfuse-module", b), med(m, "mmfuse-plan", b), med(m, "onnxruntime", b)
        fmt = lambda x: "-" if x is None else f"{x:.3f}"
        ratio = lambda x, y: "-" if x is None or y is None else f"{x / y:.2f}x"
        print(f"| {m} | {b[5:-7]} | {fmt(a)} | {fmt(p)} | {ratio(p, a)} | {fmt(o)} | {ratio(p, o)} | {load(m)} |")
PY

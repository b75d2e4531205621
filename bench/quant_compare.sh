#!/usr/bin/env bash
# int8 quantization side by side (issue 19): for each AV-MNIST model M, mmfuse fp32 vs mmfuse int8
# (`mmfuse optimize --int8 static`) beside PyTorch's own static int8 (the peer, FX graph mode on
# the onednn engine).
#   [PEER_TRAIN=0] bench/quant_compare.sh [MODELS] [EPOCHS] [LIMIT]
# PEER_TRAIN=0 skips the peer's training (its int8 accuracy drop, ~7 minutes a model on 2 cores);
# the latency rows need only its bench.
# Defaults: "lf audio lrtf xattn", the peer's budget 4 epochs / 20000 samples. On a shared 2-core
# machine use fewer (e.g. `bench/quant_compare.sh lf 2 10000`) and say so beside the table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mmfuse=${MMFUSE:-$here/build/mmfuse}
peer=$here/../shared/peers/avmnist_peer.py
models=${1:-"lf audio lrtf xattn"}
epochs=${2:-4}
limit=${3:-20000}
out=${OUT:-$here/build/quant_compare}
mkdir -p "$out"
export OMP_NUM_THREADS=2
# ONNX Runtime fp32 on the peer's export (the engine the int8 latency goals name); skipped with a
# message where onnxruntime-node cannot be installed.
ort_dir=${ORT_DIR:-$here/build/onnxruntime}
ort=1
"$here/scripts/install_onnxruntime.sh" "$ort_dir" ||
  { echo "skipping ONNX Runtime: onnxruntime-node could not be installed" >&2; ort=0; }
for m in $models; do
  run=$out/$m-fp32
  [ -f "$run/model.safetensors" ] ||
    "$mmfuse" train -c "$here/configs/avmnist/$m.yaml" --out "$run" --threads 2 --no-progress \
      train.epochs="$epochs" train.limit_train="$limit"
  rm -rf "$out/$m-int8"
  "$mmfuse" optimize --run "$run" --out "$out/$m-int8" --int8 static --threads 2 \
    --json > "$out/$m-optimize.json"
  if [ "${PEER_TRAIN:-1}" != 0 ]; then
    /usr/bin/python3 "$peer" train --data "$here/../shared/data/avmnist" --model "$m" \
      --epochs "$epochs" --limit "$limit" --threads 2 --int8 static > "$out/$m-peer-train.json"
  else
    echo '{}' > "$out/$m-peer-train.json"
  fi
  /usr/bin/python3 "$peer" bench --model "$m" --threads 2 --int8 static > "$out/$m-peer-bench.json"
  echo '{}' > "$out/$m-ort.json"
  if ((ort)); then
    /usr/bin/python3 "$peer" export --model "$m" --out "$out/onnx_$m" --onnx > /dev/null
    NODE_PATH="$ort_dir/node_modules" node "$here/../shared/peers/ort_bench.js" \
      "$out/onnx_$m/model.onnx" --threads 2 --batch 40 > "$out/$m-ort.json"
  fi
  echo "== $m"
  /usr/bin/python3 - "$out/$m-optimize.json" "$out/$m-peer-train.json" "$out/$m-peer-bench.json" \
    "$out/$m-ort.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
def last_json(path):
    for line in reversed(open(path).read().splitlines()):
        line = line.strip()
        if line.startswith('{'):
            return json.loads(line)
    return {}
pt, pb, ort = last_json(sys.argv[2]), last_json(sys.argv[3]), last_json(sys.argv[4])
f, q = o['fp32'], o['int8_figures']
print(f"test acc  fp32 {f['test_accuracy']:.2f}  int8 {q['test_accuracy']:.2f}  "
      f"peer fp32 {100 * pt.get('test_acc', 0):.2f}  peer int8 {100 * pt.get('int8_test_acc', 0):.2f}")
print(f"batch-1   fp32 {f['batch1_p50_ms']:.3f}  int8 {q['batch1_p50_ms']:.3f}  "
      f"peer int8 {pb.get('int8_batch1_p50_ms', 0)}  ORT fp32 {ort.get('batch1_p50_ms', '-')}")
print(f"batch-40  fp32 {f['batch40_p50_ms']:.3f}  int8 {q['batch40_p50_ms']:.3f}  "
      f"peer int8 {pb.get('int8_batch40_p50_ms', 0)}  ORT fp32 {ort.get('batch40_p50_ms', '-')}")
print(f"weights   {q['weights_bytes'] / f['weights_bytes']:.2f}x of fp32")
PY
done

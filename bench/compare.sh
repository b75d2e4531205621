#!/usr/bin/env bash
# mmfuse vs the Python peer (../shared/peers/avmnist_peer.py) on the AV-MNIST models, side by side:
# for every model, `mmfuse bench` and the peer's `bench` run alternately (A B A B ..., ROUNDS
# rounds, same batch, steps and threads); then the GEMM peak (`mmfuse bench --gemm`) and one
# end-to-end training epoch of `lf` on 20,000 samples (--epoch-limit) (data loading and feature extraction
# included, wall clock of the whole command) on each side. Prints one markdown table of medians
# and ratios, and the goals of issue 5 met or not.
# ONNX Runtime (issue 20): each model is also exported twice, by the peer (`avmnist_peer.py export
# --onnx`) and by mmfuse (`mmfuse export --config`, the same seeded untrained model `mmfuse bench`
# times), and both files are timed by ../shared/peers/ort_bench.js (fp32, same threads, batch 1 and
# 40) in every round; a second table gives mmfuse's latency over ONNX Runtime's. onnxruntime-node is
# installed into BUILD/onnxruntime (scripts/install_onnxruntime.sh); where npm or node is
# unreachable those columns are skipped with a message. --no-ort skips them too.
# --unfused also times `mmfuse --unfused-blocks bench` (LeNet's BatchNorm, ReLU and MaxPool as
# LibTorch's three modules in training instead of the fused op) and `mmfuse --no-conv-blocks bench`
# (LibTorch's convolution, then the fused op) in every round: the levers' A/B table.
#
#   bench/compare.sh [--threads 2] [--rounds 3] [--steps 50] [--model-steps "image=500"]
#                    [--models "image audio lf tf lrtf xattn"] [--epoch-rounds 1] [--epoch-limit 20000]
#                    [--build DIR] [--out DIR] [--no-ort] [--unfused]
#
# --steps is every model's training steps and timed inference calls per round, on every engine;
# --model-steps overrides it per model (space-separated MODEL=N). The default gives `image` 500:
# its step is about a millisecond, so 50 steps made rounds of 65-100 ms, shorter than the host's
# own jitter (either side's figure moved by 1.6x between rounds); 500 make rounds of about a second
# on each side, as the other models' 50 steps do.
#
# --epoch-rounds 0 skips the end-to-end epoch; --epoch-limit sets its training samples (both
# sides always load and evaluate the whole val and test splits). mmfuse's epoch runs with its feature cache off
# (features computed in RAM, as the peer does), so both sides pay the same feature extraction; then once
# more with its default spec and a warm feature cache (what a user's second run gets).
# Raw JSON lines go to OUT (default BUILD/bench-compare). Needs the mmfuse target built and
# /usr/bin/python3 with torch and scipy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
threads=2 rounds=3 steps=50 model_steps="image=500" epoch_rounds=1 epoch_limit=20000 build="$root/build" out="" ort=1
unfused=0
models="image audio lf tf lrtf xattn"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --model-steps) model_steps="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --epoch-rounds) epoch_rounds="$2"; shift 2 ;;
    --epoch-limit) epoch_limit="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-ort) ort=0; shift ;;
    --unfused) unfused=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin="$build/mmfuse"
[[ -x "$bin" ]] || { echo "missing $bin; build the mmfuse target" >&2; exit 2; }
peer="$root/../shared/peers/avmnist_peer.py"
data="$root/../shared/data/avmnist"
[[ -f "$peer" && -d "$data" ]] || { echo "missing $peer or $data" >&2; exit 2; }
py=/usr/bin/python3
out="${out:-$build/bench-compare}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # absolute: the end-to-end run's data spec is resolved from its own folder
results="$out/results.jsonl"
: >"$results"
record() { # side kind model json
  "$py" -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(side=sys.argv[1], kind=sys.argv[2], model=sys.argv[3]); print(json.dumps(d))' \
    "$1" "$2" "$3" "$4" >>"$results"
}
last_json() { grep '^{' | tail -n 1; }
steps_of() { # model -> its steps per round (--model-steps, else --steps)
  local kv
  for kv in $model_steps; do
    [[ "${kv%%=*}" == "$1" ]] && { echo "${kv#*=}"; return; }
  done
  echo "$steps"
}
now() { date +%s.%N; }

loadavg() { echo "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"; }

# ONNX Runtime: the package, then both exports of every model (untimed).
ort_dir="$build/onnxruntime"
if ((ort)) && ! "$root/scripts/install_onnxruntime.sh" "$ort_dir"; then
  echo "skipping the ONNX Runtime columns: onnxruntime-node could not be installed" >&2
  ort=0
fi
if ((ort)); then
  for m in $models; do
    "$py" "$peer" export --model "$m" --out "$out/onnx_peer_$m" --onnx >/dev/null ||
      { echo "peer export --onnx failed for $m (python3-onnx installed?)" >&2; exit 1; }
    "$bin" export --config "$root/configs/avmnist/$m.yaml" --onnx "$out/onnx_mmfuse_$m.onnx" >/dev/null
  done
fi
ort_bench() { # file steps
  NODE_PATH="$ort_dir/node_modules" node "$root/../shared/peers/ort_bench.js" "$1" --threads "$threads" \
    --steps "$2" --batch 40 | last_json
}
record host load before "$(loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for m in $models; do
    n="$(steps_of "$m")"
    a="$("$bin" bench --config "$root/configs/avmnist/$m.yaml" --batch 40 --steps "$n" \
      --threads "$threads" --json | last_json)"
    record mmfuse bench "$m" "$a"
    b="$("$py" "$peer" bench --model "$m" --batch 40 --steps "$n" --threads "$threads" | last_json)"
    record peer bench "$m" "$b"
    echo "round $r $m: mmfuse $a" >&2
    echo "round $r $m: peer   $b" >&2
    if ((unfused)); then
      u="$("$bin" --unfused-blocks bench --config "$root/configs/avmnist/$m.yaml" --batch 40 \
        --steps "$n" --threads "$threads" --json | last_json)"
      record mmfuse_unfused bench "$m" "$u"
      echo "round $r $m: mmfuse --unfused-blocks $u" >&2
      v="$("$bin" --no-conv-blocks bench --config "$root/configs/avmnist/$m.yaml" --batch 40 \
        --steps "$n" --threads "$threads" --json | last_json)"
      record mmfuse_no_conv_blocks bench "$m" "$v"
      echo "round $r $m: mmfuse --no-conv-blocks $v" >&2
    fi
    if ((ort)); then
      c="$(ort_bench "$out/onnx_peer_$m/model.onnx" "$n")"
      record ort_peer bench "$m" "$c"
      d="$(ort_bench "$out/onnx_mmfuse_$m.onnx" "$n")"
      record ort_mmfuse bench "$m" "$d"
      echo "round $r $m: onnxruntime (peer's export) $c" >&2
      echo "round $r $m: onnxruntime (mmfuse's export) $d" >&2
    fi
  done
  g="$("$bin" bench --gemm --size 1024 --threads "$threads" --json | last_json)"
  record mmfuse gemm gemm "$g"
  echo "round $r gemm: $g" >&2
done

# End to end: one epoch of lf on 20,000 training samples, the whole command timed.
spec="$out/avmnist_nocache.yaml"
sed -e "s#\.\./\.\./\.\./shared#$root/../shared#g" -e '/^cache:/,/^[a-z_]*:/{/^  /d}' \
  -e 's#^cache:.*#cache: {enabled: false, ram_mb: 4096}#' "$root/configs/data/avmnist.yaml" >"$spec"
for ((r = 1; r <= epoch_rounds; r++)); do
  t0=$(now)
  rm -rf "$out/run_lf"
  "$bin" train --config "$root/configs/avmnist/lf.yaml" "data=$spec" train.epochs=1 \
    "train.limit_train=$epoch_limit" "train.threads=$threads" --out "$out/run_lf" --no-progress \
    >"$out/epoch_mmfuse.log" 2>&1 || { echo "mmfuse train failed: $out/epoch_mmfuse.log" >&2; exit 1; }
  t1=$(now)
  record mmfuse epoch lf "{\"seconds\": $("$py" -c "print(round($t1 - $t0, 2))"), \"limit\": $epoch_limit}"
  t0=$(now)
  "$py" "$peer" train --data "$data" --model lf --epochs 1 --limit "$epoch_limit" --threads "$threads" \
    >"$out/epoch_peer.log" 2>&1 || { echo "peer train failed: $out/epoch_peer.log" >&2; exit 1; }
  t1=$(now)
  record peer epoch lf "{\"seconds\": $("$py" -c "print(round($t1 - $t0, 2))"), \"limit\": $epoch_limit}"
  echo "epoch round $r: $(grep epoch "$results" | tail -n 2 | tr '\n' ' ')" >&2
  # The same epoch with mmfuse's own data spec, its feature cache on: one untimed run fills the
  # cache (a no-op when an earlier run did), the timed one reads the spectrograms back.
  for timed in 0 1; do
    rm -rf "$out/run_lf_warm"
    t0=$(now)
    "$bin" train --config "$root/configs/avmnist/lf.yaml" train.epochs=1 \
      "train.limit_train=$epoch_limit" "train.threads=$threads" --out "$out/run_lf_warm" \
      --no-progress >"$out/epoch_mmfuse_warm.log" 2>&1 ||
      { echo "mmfuse train failed: $out/epoch_mmfuse_warm.log" >&2; exit 1; }
    t1=$(now)
    ((timed)) && record mmfuse epoch_warm lf \
      "{\"seconds\": $("$py" -c "print(round($t1 - $t0, 2))"), \"limit\": $epoch_limit}"
  done
done
record host load after "$(loadavg)"
"$py" "$here/compare_table.py" "$results" --threads "$threads" --rounds "$rounds" --steps "$steps" \
  --model-steps "$model_steps"

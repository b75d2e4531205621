#!/usr/bin/env bash
# Peak memory (RSS, /usr/bin/time -f %M) of mmfuse jobs, side by side with the Python peer where
# one exists, at two dataset sizes (5,500 and 55,000 training samples). One JSON line per row
# goes to $OUT/memory.jsonl; a Markdown table is printed at the end.
#
#   bench/memory.sh [--build build] [--threads 2] [--sizes "5500 55000"]
#                   [--rows "lf audio xattn default eval index peer"] [--out build/bench-memory]
#
# Rows: lf, audio, xattn: one epoch of configs/avmnist/<m>.yaml at each size (default data spec,
# whose RAM cache is off); default: one epoch of configs/default.yaml on the built-in dataset
# (`mmfuse data make-default`, sizes do not apply); eval: `mmfuse eval` of the lf run on val.jsonl
# (5,000) and train.jsonl (55,000); index: `mmfuse index build` over the emoji collection with a
# one-epoch emoji retrieval run; peer: avmnist_peer.py train --model lf, one epoch (it also
# evaluates val and test). The feature cache is filled first by an untimed run when it is cold.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build=build threads=2 sizes="5500 55000" rows="lf audio xattn default eval index peer"
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "memory.sh: unknown argument $1 (see the header for usage)" >&2; exit 2 ;;
  esac
done
[[ "$build" = /* ]] || build="$root/$build"
bin="$build/mmfuse"
out="${out:-$build/bench-memory}"
[[ "$out" = /* ]] || out="$root/$out"
py=/usr/bin/python3
peer="$root/../shared/peers/avmnist_peer.py"
data="$root/../shared/data/avmnist"
[[ -x "$bin" ]] || { echo "memory.sh: build $bin first (cmake --build $build --target mmfuse)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
mkdir -p "$out"
results="$out/memory.jsonl"
: >"$results"
has() { [[ " $rows " == *" $1 "* ]]; }

# measure NAME SIZE CMD...: runs CMD under /usr/bin/time, records peak RSS (MB) and wall seconds.
measure() {
  local name="$1" size="$2"; shift 2
  local log="$out/${name// /_}_$size.log" tf="$out/time_${name// /_}_$size.txt"
  echo "-- $name ($size): $*" >&2
  if ! /usr/bin/time -f "%M %e" -o "$tf" "$@" >"$log" 2>&1; then
    echo "memory.sh: $name failed, see $log" >&2; exit 1
  fi
  read -r kb secs <"$tf"
  printf '{"job": "%s", "samples": "%s", "peak_rss_mb": %d, "wall_s": %s, "command": "%s"}\n' \
    "$name" "$size" $((kb / 1024)) "$secs" "$*" >>"$results"
}

train_epoch() {  # train_epoch MODEL SIZE
  local cfg="$root/configs/avmnist/$1.yaml" run="$out/run_$1_$2"
  rm -rf "$run"
  measure "mmfuse train $1" "$2" "$bin" train --config "$cfg" train.epochs=1 "train.limit_train=$2" \
    --threads "$threads" --out "$run" --no-progress
}

# Fill the AV-MNIST feature cache (a no-op when warm) so that rows measure training, not the
# one-time spectrogram extraction.
"$bin" train --config "$root/configs/avmnist/lf.yaml" train.epochs=0 --threads "$threads" \
  --out "$out/warm_cache" --no-progress >"$out/warm_cache.log" 2>&1 ||
  { echo "memory.sh: warming the cache failed, see $out/warm_cache.log" >&2; exit 1; }

for size in $sizes; do
  for m in lf audio xattn; do has "$m" && train_epoch "$m" "$size"; done
  if has peer; then
    measure "peer train lf" "$size" "$py" "$peer" train --data "$data" --model lf --epochs 1 \
      --limit "$size" --threads "$threads"
  fi
done
if has eval; then
  [[ -d "$out/run_lf_5500" ]] || train_epoch lf 5500
  measure "mmfuse eval lf" 5000 "$bin" eval --run "$out/run_lf_5500" --data "$data/val.jsonl" \
    --threads "$threads" --json
  measure "mmfuse eval lf" 55000 "$bin" eval --run "$out/run_lf_5500" --data "$data/train.jsonl" \
    --threads "$threads" --json
fi
if has default; then
  ddir="$build/default-data"
  [[ -f "$ddir/dataset.yaml" ]] || "$bin" data make-default --out "$ddir" >"$out/make_default.log" 2>&1
  rm -rf "$out/run_default"
  measure "mmfuse train default" all "$bin" train --config "$root/configs/default.yaml" \
    "data=$ddir/dataset.yaml" train.epochs=1 --threads "$threads" --out "$out/run_default" \
    --no-progress
fi
if has index; then
  rm -rf "$out/run_emoji" "$out/emoji_index"
  "$bin" train --config "$root/configs/emoji/retrieval.yaml" train.epochs=1 --threads "$threads" \
    --out "$out/run_emoji" --no-progress >"$out/emoji_train.log" 2>&1
  measure "mmfuse index build emoji" 3200 "$bin" index build --run "$out/run_emoji" \
    --data "$root/../shared/data/emoji/train.jsonl" --modality image --out "$out/emoji_index"
fi

echo
echo "| job | samples | peak RSS | wall |"
echo "|---|---|---|---|"
"$py" - "$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['job']} | {r['samples']} | {r['peak_rss_mb'] / 1024:.2f} GB | {r['wall_s']} s |")
PY

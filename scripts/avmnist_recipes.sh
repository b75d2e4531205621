#!/usr/bin/env bash
# AV-MNIST recipes side by side with the Python peer, on the peer's budget (4 epochs, the first
# 20,000 training samples, batch 40, best-on-validation), for each seed: the peer's
#   avmnist_peer.py train --data ../shared/data/avmnist --model M --epochs 4 --limit 20000 --seed S
# and mmfuse's `train --config configs/avmnist/M.yaml train.seed=S`, then one table of test
# accuracies (docs/RESULTS.md). Finished runs are kept and skipped, so the script can be resumed.
#
#   scripts/avmnist_recipes.sh [--out DIR] [--seeds "0 1"] [--models "lf lrtf tf xattn image audio"]
#                              [--threads N] [--build DIR] [--only peer|mmfuse] [--table-only]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/avmnist-recipes SEEDS="0 1" MODELS="lf lrtf tf xattn image audio" THREADS=1 BUILD=build
TABLE_ONLY=0 EXTRA="mmfuse" ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2;; --seeds) SEEDS=$2; shift 2;; --models) MODELS=$2; shift 2;;
    --threads) THREADS=$2; shift 2;; --build) BUILD=$2; shift 2;; --table-only) TABLE_ONLY=1; shift;;
    --only) ONLY=$2; shift 2;;     # run one side only (e.g. two processes, one per side)
    --extra) EXTRA=$2; shift 2;;   # mmfuse-only configs (configs/avmnist/NAME.yaml), no peer
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
SHARED=${MMFUSE_SHARED_DIR:-../shared}
PY=/usr/bin/python3
mkdir -p "$OUT"

peer_run() {  # model seed
  local out="$OUT/peer-$1-s$2.json"
  [ -s "$out" ] || [ "$ONLY" = mmfuse ] && return 0
  echo "peer   $1 seed $2" >&2
  "$PY" "$SHARED/peers/avmnist_peer.py" train --data "$SHARED/data/avmnist" --model "$1" --epochs 4 \
    --limit 20000 --seed "$2" --threads "$THREADS" > "$out.tmp" && mv "$out.tmp" "$out"
}
mmfuse_run() {  # config-name seed
  local dir="$OUT/mmfuse-$1-s$2"
  [ -s "$dir/summary.json" ] || [ "$ONLY" = peer ] && return 0
  echo "mmfuse $1 seed $2" >&2
  rm -rf "$dir"
  "$BUILD/mmfuse" train --config "configs/avmnist/$1.yaml" --out "$dir" --threads "$THREADS" \
    "train.seed=$2" train.loader_threads=1 --no-progress > "$dir.log" 2>&1 ||
    { echo "mmfuse $1 seed $2 failed: see $dir.log" >&2; return 1; }
}

if [ "$TABLE_ONLY" = 0 ]; then
  for seed in $SEEDS; do
    for m in $MODELS; do peer_run "$m" "$seed"; mmfuse_run "$m" "$seed"; done
    for e in $EXTRA; do mmfuse_run "$e" "$seed"; done
  done
fi

"$PY" - "$OUT" "$SEEDS" "$MODELS $EXTRA" <<'PYEOF'
import json, os, sys
out, seeds, models = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def peer(m, s):
    p = os.path.join(out, f"peer-{m}-s{s}.json")
    return json.load(open(p)) if os.path.exists(p) else None
def mm(m, s):
    p = os.path.join(out, f"mmfuse-{m}-s{s}", "summary.json")
    return json.load(open(p)) if os.path.exists(p) else None
def fmt(v): return "—" if v is None else f"{v:.4f}"
def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None
print("| recipe | " + " | ".join(f"peer s{s}" for s in seeds) + " | peer mean | "
      + " | ".join(f"mmfuse s{s}" for s in seeds) + " | mmfuse mean | Δ (points) | mmfuse val (best) |")
print("|---" * (2 * len(seeds) + 5) + "|")
for m in models:
    p = [peer(m, s) for s in seeds]; q = [mm(m, s) for s in seeds]
    pa = [x["test_acc"] if x else None for x in p]
    qa = [x["test"]["primary"] if x else None for x in q]
    qv = [x["best_val_metric"] if x else None for x in q]
    pm, qm = mean(pa), mean(qa)
    d = "—" if pm is None or qm is None else f"{100 * (qm - pm):+.2f}"
    print(f"| {m} | " + " | ".join(map(fmt, pa)) + f" | {fmt(pm)} | " + " | ".join(map(fmt, qa))
          + f" | {fmt(qm)} | {d} | {fmt(mean(qv))} |")
PYEOF

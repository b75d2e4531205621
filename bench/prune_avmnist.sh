#!/usr/bin/env bash
# Structured pruning of the AV-MNIST `lf` run (docs/BENCHMARKS.md, "Pruning"): trains the fp32 run
# unless --run is given, prunes 50% of the channels/units with one epoch of fine-tuning, and
# times both runs' configs with `mmfuse bench` (the pruned config records the smaller widths).
#   bench/prune_avmnist.sh [--run RUN] [--out DIR] [--epochs 4] [--amount 0.5] [--finetune 1]
set -euo pipefail
MMFUSE=${MMFUSE:-build/mmfuse}
OUT=runs/prune-bench RUN= EPOCHS=4 AMOUNT=0.5 FINETUNE=1 THREADS=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --run) RUN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --amount) AMOUNT=$2; shift 2 ;;
    --finetune) FINETUNE=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
if [[ -z $RUN ]]; then
  RUN=$OUT/lf
  "$MMFUSE" train --no-progress --config configs/avmnist/lf.yaml train.epochs="$EPOCHS" \
    train.limit_train=20000 --out "$RUN"
fi
PRUNED=$OUT/lf-pruned-$AMOUNT-ft$FINETUNE
"$MMFUSE" prune --no-progress --run "$RUN" --out "$PRUNED" --amount "$AMOUNT" --structured \
  --finetune-epochs "$FINETUNE" | tee "$OUT/prune.txt"
# Alternately, 3 rounds each: the source's and the pruned run's configs.
for round in 1 2 3; do
  for r in "$RUN" "$PRUNED"; do
    echo "== $r round $round"
    "$MMFUSE" bench --config "$r/config.yaml" --batch 40 --steps 50 --threads "$THREADS" --json
  done
done | tee "$OUT/bench.txt"

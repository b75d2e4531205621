#!/usr/bin/env bash
# The main job (`make run`) on the built-in default dataset (images, speech and text of the ten
# digits, made from Debian packages only):
#   1. build the dataset (`mmfuse data make-default`) and check every split through the pipelines;
#   2. train the default tri-modal model (configs/default.yaml: image CNN + audio CNN on log-mel +
#      text GRU, a multi-combination fusion, digit-class and value heads) beside the three
#      single-modality models, and print the comparison table (`mmfuse compare`);
#   3. evaluate the fused model on the test split with the robustness sweep (`mmfuse eval
#      --robustness`), which adds the robustness curves and ablation bars to its report;
#   4. say whether fusion beat the best single modality, and where the reports are.
# Model choices were made on the validation split; the test split is only reported.
set -euo pipefail
BUILD=${1:-build}
DATA=${MMFUSE_DEFAULT_DATA:-$BUILD/default-data}
RUN=${MMFUSE_MAIN_RUN:-runs/main}
MMFUSE="$BUILD/mmfuse"
start=$(date +%s)

if [ ! -f "$DATA/test.jsonl" ]; then
  "$MMFUSE" data make-default --out "$DATA" --seed 0
else
  echo "default dataset already in $DATA (delete it to rebuild)"
fi
for split in train val test; do
  "$MMFUSE" data check "$DATA/$split.jsonl" --spec "$DATA/dataset.yaml"
done

rm -rf "$RUN" && mkdir -p "$(dirname "$RUN")"
"$MMFUSE" compare --config configs/default.yaml --fusions config --out "$RUN" --no-progress \
  "data=$(cd "$DATA" && pwd)/dataset.yaml" | tee "$RUN.table.txt"
FUSED="$RUN/config_composite"
"$MMFUSE" eval --run "$FUSED" --data "$DATA/test.jsonl" --robustness > "$RUN/fused_eval.txt"
sed -n '/[Aa]blation/,$p' "$RUN/fused_eval.txt"

python3 - "$RUN/comparison.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
fused = [r for r in rows if r["name"].startswith("config ")][0]
singles = [r for r in rows if r["name"].endswith(" only")]
best = max(singles, key=lambda r: r["accuracy"])
gap = 100 * (fused["accuracy"] - best["accuracy"])
print(f"\nfused ({fused['name']}) test accuracy {fused['accuracy']:.4f} vs best single modality "
      f"({best['name']}) {best['accuracy']:.4f}: {gap:+.1f} points")
sys.exit(0 if gap > 0 else 1)
PY
echo "reports: $RUN/report.html (comparison), $FUSED/report.html (fused model)"
echo "main job took $(( $(date +%s) - start )) s"

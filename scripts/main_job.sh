#!/usr/bin/env bash
# The main job (`make run`): build the built-in default dataset (images, speech, text of the ten
# digits, from Debian packages only) and check every split through the real pipelines.
set -euo pipefail
BUILD=${1:-build}
DATA=${MMFUSE_DEFAULT_DATA:-$BUILD/default-data}
MMFUSE="$BUILD/mmfuse"

if [ ! -f "$DATA/test.jsonl" ]; then
  "$MMFUSE" data make-default --out "$DATA" --seed 0
else
  echo "default dataset already in $DATA (delete it to rebuild)"
fi
for split in train val test; do
  "$MMFUSE" data check "$DATA/$split.jsonl" --spec "$DATA/dataset.yaml"
done

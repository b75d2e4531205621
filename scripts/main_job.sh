#!/usr/bin/env bash
# The main job (`make run`): build the built-in default dataset and run the default workflow on it.
set -euo pipefail
BUILD=${1:-build}
OUT=${MMFUSE_RUN_DIR:-runs/default}
DATA=${MMFUSE_DEFAULT_DATA:-$BUILD/default-data}
MMFUSE="$BUILD/mmfuse"

if [ ! -f "$DATA/train.jsonl" ]; then
  "$MMFUSE" data make-default --out "$DATA" --seed 0
fi
"$MMFUSE" data check "$DATA/train.jsonl"
"$MMFUSE" data check "$DATA/test.jsonl"

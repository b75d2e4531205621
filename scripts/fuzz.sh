#!/usr/bin/env bash
# Runs one fuzz target (built by `make fuzz` into build-fuzz/) for SECONDS seconds at the lowest CPU
# priority: scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
# Targets: manifest_line yaml_config safetensors idx_reader image_decode audio_decode text_decode
#          serve_json.
# The working corpus grows in build-fuzz/corpus/TARGET (seeded from fuzz/corpus/TARGET, which stays
# small); a crashing input is written to build-fuzz/artifacts/TARGET/ and the script exits non-zero.
# Copy such an input to fuzz/regressions/TARGET/ once fixed: ctest replays it in the normal build.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
bin=$build/fuzz_$target
[ -x "$bin" ] || { echo "$bin not built; run \`make fuzz\` first" >&2; exit 2; }
corpus=$build/corpus/$target
artifacts=$build/artifacts/$target
mkdir -p "$corpus" "$artifacts"
case $target in
  manifest_line | serve_json | safetensors) dict=$root/fuzz/dict/json.dict ;;
  yaml_config) dict=$root/fuzz/dict/yaml.dict ;;
  *) dict= ;;
esac
args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1
      -artifact_prefix="$artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  exec nice -n 19 "$bin" "${args[@]}" "$@" "$corpus" "$root/fuzz/corpus/$target"

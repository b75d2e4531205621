#!/usr/bin/env bash
# Sampled-frame decoding: mmfuse's video reader (bench_video_decode) vs the ffmpeg CLI extracting
# the same frames (`ffmpeg -i clip -vf fps=F -frames:v K -pix_fmt rgb24 -f rawvideo -`), one clip
# at a time on one core, on (a) short generated AV-MNIST clips and (b) Debian's 14 s 720p
# cockatoo.mp4 with K frames spread over it. Prints one JSON line per tool and case.
#
#   bench/video_decode.sh [--build build] [--clips DIR] [--n 100] [--frames 8]
set -euo pipefail
BUILD=build; CLIPS=""; N=100; K=8
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --clips) CLIPS=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --frames) K=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cmake --build "$BUILD" --target bench_video_decode mmfuse >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ -z "$CLIPS" ]; then
  CLIPS="$tmp/clips"
  "$BUILD/mmfuse" -q data make-video --out "$CLIPS" --limit "$N" --threads 2 >/dev/null
fi
mapfile -t files < <(find "$CLIPS" -name '*.mp4' | sort | head -n "$N")

# CPU seconds (user + system) of this shell's finished children so far (bash's `times`).
# `times` runs in this shell (a pipe or $(...) would fork a subshell with no children).
children_cpu() {  # variable name
  times >"$tmp/times"
  printf -v "$1" '%s' "$(tail -1 "$tmp/times" | awk '{ s = 0; for (i = 1; i <= 2; i++) {
    split($i, p, /[ms]/); s += p[1] * 60 + p[2] } print s }')"
}

# One clip at a time through the CLI; prints clips/s, frames/s and CPU seconds as JSON (CPU time
# is what to compare on a loaded machine: the wall clock then measures the other jobs too).
cli_run() {  # name fps repeat files...
  local name=$1 fps=$2 repeat=$3; shift 3
  local t0 t1 c0 c1 frames=0 bytes
  t0=$(date +%s.%N)
  children_cpu c0
  for ((r = 0; r < repeat; r++)); do
    for f in "$@"; do
      bytes=$(taskset -c 0 ffmpeg -v error -threads 1 -i "$f" -vf "fps=$fps" -frames:v "$K" \
                -pix_fmt rgb24 -f rawvideo - | wc -c)
      frames=$((frames + bytes))
    done
  done
  t1=$(date +%s.%N)
  children_cpu c1
  python3 -c "import json,sys; n=$# * $repeat; s=$t1-$t0; c=$c1-$c0; print(json.dumps({'tool': 'ffmpeg_cli', 'case': '$name', 'clips': n, 'rgb_bytes': $frames, 'seconds': round(s, 3), 'clips_per_s': round(n / s, 1), 'cpu_seconds': round(c, 3), 'cpu_s_per_clip': round(c / n, 4)}))" "$@"
}

echo "== (a) ${#files[@]} generated clips, K=$K frames at $K fps"
taskset -c 0 "$BUILD/bench/bench_video_decode" --frames "$K" --fps "$K" --repeat 3 "${files[@]}"
cli_run generated "$K" 1 "${files[@]}"
COCKATOO=/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
if [ -f "$COCKATOO" ]; then
  echo "== (b) cockatoo.mp4 (14 s, 1280x720 H.264), K=$K frames spread over the clip"
  taskset -c 0 "$BUILD/bench/bench_video_decode" --frames "$K" --repeat 3 "$COCKATOO"
  cli_run cockatoo "$K/14" 3 "$COCKATOO"
fi

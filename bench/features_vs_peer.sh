#!/usr/bin/env bash
# AV-MNIST spectrogram throughput: mmfuse (bench_audio_features) vs the Python peer
# (avmnist_peer.audio_features), run alternately for ROUNDS rounds on the same clips and thread count.
#
#   bench/features_vs_peer.sh [--threads 2] [--peer-threads N] [--rounds 3] [--dir DIR] [--build DIR]
#
# --peer-threads (default: --threads) sets the peer's torch threads separately: on a loaded machine
# the peer is fastest with 1 thread (OpenMP workers spin), so that is the conservative comparison.
#
# Needs: cmake --build build --target bench_audio_features; /usr/bin/python3 with torch, scipy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
threads=2 peer_threads="" rounds=3 build="$root/build" dir="$root/../shared/data/fsdd/recordings"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --peer-threads) peer_threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
peer_threads="${peer_threads:-$threads}"
# mmfuse runs several passes so that both sides run for seconds, not one side for a second.
repeat="${MMFUSE_BENCH_REPEAT:-5}"
bin="$build/bench/bench_audio_features"
[[ -x "$bin" ]] || { echo "missing $bin; build the bench_audio_features target" >&2; exit 2; }
py=/usr/bin/python3
cps() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["clips_per_s"])'; }

ours=() peer=()
for ((r = 1; r <= rounds; r++)); do
  o="$("$bin" --dir "$dir" --threads "$threads" --repeat "$repeat")"
  p="$("$py" "$here/audio_features_peer.py" --dir "$dir" --threads "$peer_threads")"
  echo "round $r: $o"
  echo "round $r: $p"
  ours+=("$(echo "$o" | cps)") peer+=("$(echo "$p" | cps)")
done
"$py" - "${ours[*]}" "${peer[*]}" "$threads" "$peer_threads" <<'PY'
import json, statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
peer = [float(x) for x in sys.argv[2].split()]
mo, mp = statistics.median(ours), statistics.median(peer)
print(json.dumps({'threads': int(sys.argv[3]), 'peer_threads': int(sys.argv[4]),
                  'mmfuse_clips_per_s': ours, 'peer_clips_per_s': peer,
                  'median_mmfuse': mo, 'median_peer': mp, 'ratio': round(mo / mp, 2)}))
PY

#!/usr/bin/env bash
# `make bench`: every benchmark, each side by side with its Python peer (never part of make test).
set -euo pipefail
BUILD=${1:-build}
here="$(cd "$(dirname "$0")" && pwd)"
cmake --build "$BUILD" --target bench_audio_features
echo "== AV-MNIST spectrogram feature extraction (3,000 FSDD clips), mmfuse vs peer, same threads"
"$here/features_vs_peer.sh" --build "$BUILD" --threads 2
echo "== the same against the peer's fastest setting (1 torch thread)"
"$here/features_vs_peer.sh" --build "$BUILD" --threads 2 --peer-threads 1
cmake --build "$BUILD" --target mmfuse
echo "== AV-MNIST models: mmfuse bench vs the peer's bench (training, batch-1/40 latency), GEMM peak, one lf epoch"
"$here/compare.sh" --build "$BUILD" --threads 1
cmake --build "$BUILD" --target bench_ddp_reducer
echo "== GradientReducer: 200 steps of a 1.5M-parameter MLP, 1 process and 2 local ranks, overlap on/off"
BIN="$BUILD/bench/bench_ddp_reducer" "$here/ddp_reducer.sh" 200 16 1
echo "== data-parallel lf training: 1 process x 2 threads vs 2 processes x 1 thread, mmfuse and PyTorch DDP"
"$here/ddp_scaling.sh" --build "$BUILD"
cmake --build "$BUILD" --target mmfuse
echo "== mmfuse serve vs FastAPI + uvicorn (serve_peer.py --workers 2): AV-MNIST lf, wrk at concurrency 1, 8, 64"
"$here/serve_compare.sh" --build "$BUILD" --duration 30s
echo "== video: sampled frames/s and clips/s of the FFmpeg reader vs the ffmpeg CLI extracting the same frames"
"$here/video_decode.sh" --build "$BUILD"
echo "== peak memory (RSS) of training, evaluation and index build vs the peer, at 5,500 and 55,000 samples"
"$here/memory.sh" --build "$BUILD" --threads 2

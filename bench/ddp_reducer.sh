#!/usr/bin/env bash
# GradientReducer step time: one process, then 2 local ranks (what `torchrun --no_python
# --nproc_per_node=2` would start), overlap on and off. Arguments go to bench_ddp_reducer:
#   bench/ddp_reducer.sh [steps=200] [per_rank_batch=64] [bucket_mb=25]
set -euo pipefail
BIN=${BIN:-build/bench/bench_ddp_reducer}
PORT=${PORT:-$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
env -u WORLD_SIZE -u RANK "$BIN" "$@"
export WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT GLOO_SOCKET_IFNAME=lo
RANK=1 LOCAL_RANK=1 "$BIN" "$@" > /dev/null &
peer=$!
trap 'kill $peer 2> /dev/null || true' EXIT
RANK=0 LOCAL_RANK=0 "$BIN" "$@"
wait $peer

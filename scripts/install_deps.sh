#!/usr/bin/env bash
# Installs the Debian 12 packages mmfuse needs, only those that are missing.
set -euo pipefail
PKGS=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev libgloo-dev libdnnl-dev
  libonnx-dev python3-onnx nodejs  # ONNX export; its checks run the npm package onnxruntime-node
  libopencv-dev libsndfile1-dev libsamplerate0-dev zlib1g-dev libxxhash-dev
  libfaiss-dev libcpp-httplib-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev
  libsqlite3-dev libuchardet-dev libicu-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3-torch python3-torchvision python3-scipy python3-pil python3-sklearn python3-numpy
  espeak-ng sox chromium wordnet-base
  # video (issue 17): FFmpeg libraries for the reader, the CLI for the benchmark and fixtures,
  # real sample videos for the decode tests
  libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev ffmpeg
  opencv-doc python3-imageio
)
# `--fuzz` (make fuzz): clang and its libFuzzer/sanitizer runtimes, only for the fuzz build.
if [ "${1:-}" = "--fuzz" ]; then PKGS=(clang libclang-rt-14-dev); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install_deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

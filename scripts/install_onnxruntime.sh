#!/usr/bin/env bash
# Installs the npm package onnxruntime-node (ONNX Runtime's CPU library ships in it) into DIR
# (default build/onnxruntime): DIR/node_modules/onnxruntime-node, used by the ONNX export tests and
# bench/compare.sh with NODE_PATH=DIR/node_modules. --ignore-scripts: the install script only
# fetches GPU binaries. Prints a message and exits 1 when npm or the registry is unreachable
# (0 with --soft: the ctest fixture, whose tests then skip, or fail under MMFUSE_STRICT_TESTS=1).
set -uo pipefail
FAIL=1
if [ "${1:-}" = "--soft" ]; then FAIL=0; shift; fi
DIR="${1:-build/onnxruntime}"
VERSION="${ONNXRUNTIME_NODE_VERSION:-1.20.1}"
if [ -f "$DIR/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/onnxruntime-node/package.json"; then
  exit 0
fi
if ! command -v npm > /dev/null || ! command -v node > /dev/null; then
  echo "install_onnxruntime: node/npm not found (apt-get install nodejs npm)" >&2
  exit $FAIL
fi
mkdir -p "$DIR"
if ! npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund --loglevel=error \
     "onnxruntime-node@$VERSION" >&2; then
  echo "install_onnxruntime: npm could not install onnxruntime-node@$VERSION into $DIR" >&2
  exit $FAIL
fi
echo "install_onnxruntime: onnxruntime-node@$VERSION in $DIR/node_modules" >&2

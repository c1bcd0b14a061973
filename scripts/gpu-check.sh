#!/usr/bin/env bash
# The GPU path in one run (under 8 minutes with the build): selects whisper.cpp's CUDA build
# (@fugood/whisper.node's prebuilt linux-x64-cuda package), proves inference runs on the GPU
# rather than a silent CPU fallback, and prints RTFx for 60 s of speech on generated models
# with the `base` and `large-v3-turbo` dimensions, the service against the engine; then TTS
# on onnxruntime's CUDA execution provider when that provider is installed.
# CPU-only machines skip it with one line and exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: skipped — no NVIDIA GPU on this machine (nvidia-smi finds none)."
  exit 0
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

export ONNXRUNTIME_NODE_INSTALL=skip
[[ -d node_modules ]] || bash scripts/install-deps.sh
# The CUDA build is an optional dependency the lock file cannot pin (see install-deps.sh).
cuda_pkg=@fugood/node-whisper-linux-x64-cuda
if [[ ! -d node_modules/$cuda_pkg ]]; then
  version=$(node -p "require('@fugood/whisper.node/package.json').version")
  npm install --no-save --no-audit --no-fund --ignore-scripts "$cuda_pkg@$version"
fi
npx tsc -p tsconfig.json

# onnxruntime-node ships its CUDA provider only when installed with ONNXRUNTIME_NODE_INSTALL=cuda12,
# which downloads it from NuGet; without it TTS_DEVICE=cuda is refused with that advice.
tts=()
if compgen -G "node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime_providers_cuda.so" >/dev/null; then
  tts=(--tts)
else
  echo "TTS on CUDA: skipped — onnxruntime-node's CUDA provider is not installed (reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12 where NuGet is reachable)."
fi
timeout 420 node dist/bench/gpu-check.js "${tts[@]}" "$@"

#!/usr/bin/env bash
# Installs what Voice Stack needs on a Debian/Ubuntu machine, then its npm packages.
#   espeak-ng  the zero-download TTS engine (and phonemiser for the neural voices)
#   ffmpeg     decodes uploads (mp3, flac, ogg, m4a, webm, video) and encodes mp3/opus/aac/flac
#   g++, make, python3  compile, during `npm install`, our small addon over the prebuilt
#              whisper.cpp 1.8.3 (seconds) and the older bundled whisper.cpp for this CPU (about a
#              minute; the fallback); without them ASR runs @fugood's prebuilt, which has no AVX
# With --test it also installs what the test suite uses: chromium (renders the load
# tester's HTML report and the live pages), systemd (systemd-analyze verifies the generated
# units), redis-server (the job queue's tests) and haproxy (the replica tests).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(espeak-ng ffmpeg g++ make python3)
if [[ "${1:-}" == "--test" ]]; then packages+=(chromium systemd redis-server haproxy); fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci would refuse this lock file: @fugood/whisper.node lists per-platform optional
# packages that the registry does not have for its version, so they cannot be locked.
# npm install still follows the lock for everything that is in it. Its postinstall patches
# smart-whisper and compiles whisper.cpp for this CPU (scripts/build-whisper-native.mjs), then
# builds native/whisper-current over the prebuilt 1.8.3 (scripts/build-whisper-current.mjs).
# onnxruntime-node would download its CUDA provider from NuGet at install time; the CPU
# binaries ship inside the package, and machines here reach only the npm registry. Its
# installer reads this variable (an .npmrc key for it made npm warn on every command).
export ONNXRUNTIME_NODE_INSTALL=skip
npm install --no-audit --no-fund

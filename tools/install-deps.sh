#!/usr/bin/env bash
# install-deps.sh: the Debian 12 packages loom needs to build, test and run.
# Idempotent; run as root (CI and the README's first command call it).
set -euo pipefail
packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev python3
  libjson-c-dev
  libopenblas-dev libdnnl-dev
  liblua5.4-dev lua5.4
  libpng-dev libwebp-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
  libopenmpi-dev openmpi-bin
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

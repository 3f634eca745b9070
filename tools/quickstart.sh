#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 machine to a video made by the default workflow.
# Installs the build dependencies (apt), builds loom, and runs workflows/default.json —
# the Wan2.1 text-to-video graph on the tiny models bundled in tests/fixtures/models —
# which writes output/video/loom_default_NNNNN_.mp4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/bin/loom run workflows/default.json --models tests/fixtures/models --out output

#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 machine to a run of the bundled default workflow.
# Installs the build dependencies (apt), builds loom, and runs workflows/default.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/bin/loom run workflows/default.json --out output

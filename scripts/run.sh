#!/usr/bin/env bash
# One command to run the emulator: installs what is missing (Debian 12), builds an optimised
# iothub-emulator, and starts it with the development hub (connection strings are printed).
# Arguments go to the emulator, e.g. scripts/run.sh --bind 0.0.0.0 --data-dir /tmp/hub
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target iothub-emulator
exec build/release/emulator/app/iothub-emulator "$@"

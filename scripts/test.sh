#!/usr/bin/env bash
# One command to test everything: installs what is missing (Debian 12 packages, the official
# Node SDKs), builds the test build (ASan + UBSan, warnings as errors) and the libFuzzer build
# (clang) and the ThreadSanitizer build of the emulator (scripts/tsan.sh), and runs the whole
# suite with CTest: unit, integration (the real binary over real TLS with real clients),
# bounded fuzzing, and the integration tests again against the TSan binary. Ends with CTest's
# summary.
#   EMU_FUZZ_SECONDS=N   seconds per fuzz target (default 30)
#   CTEST_ARGS="-L unit" extra arguments for ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)
fuzz_seconds=${EMU_FUZZ_SECONDS:-30}

CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DEMU_BUILD_FUZZERS=ON \
  -DEMU_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/fuzz --target fuzzers -j "$jobs"

TSAN_JOBS=$jobs scripts/tsan.sh build

cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DEMU_SANITIZE=ON -DEMU_WERROR=ON \
  -DEMU_FUZZ_BINARY_DIR="$PWD/build/fuzz" -DEMU_TSAN=ON >/dev/null
cmake --build build/test -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck disable=SC2086
ctest --test-dir build/test --output-on-failure -j "$jobs" ${CTEST_ARGS:-}

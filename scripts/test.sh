#!/usr/bin/env bash
# One command to test everything: installs what is missing (Debian 12 packages, the official
# Node SDKs), builds the test build (clang with ASan + UBSan, warnings as errors, libFuzzer
# coverage instrumentation, so the fuzz targets come from the same build) and the
# ThreadSanitizer build of the emulator (scripts/tsan.sh), and runs the whole suite with CTest:
# unit, integration (the real binary over real TLS with real clients), bounded fuzzing, and the
# integration tests again against the TSan binary; then the container test (scripts/
# container-test.sh: the image built from the Dockerfile, compose up, the tutorial, telemetry,
# metrics), which says SKIPPED and why where no container engine can be started.
#   EMU_FUZZ_SECONDS=N   seconds per fuzz target (default 30)
#   CTEST_ARGS="-L unit" extra arguments for ctest (the container test is skipped then)
#   EMU_CONTAINER_TEST=0 skip the container test
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's wall time, printed at the end (the README's figures come from these lines).
started=$SECONDS
phase_times=()
phase() { phase_times+=("$1: $((SECONDS - started)) s"); started=$SECONDS; }
trap 'printf "test.sh phase times: %s\n" "${phase_times[*]/%/;}"' EXIT
scripts/install-deps.sh test
phase install
jobs=$(nproc)
fuzz_seconds=${EMU_FUZZ_SECONDS:-30}

TSAN_JOBS=$jobs scripts/tsan.sh build
phase tsan-build

# One sanitizer build serves the tests and the fuzzers (it used to be two, a GCC test build and
# a clang fuzz build, a third of the suite's time). No build type: the fuzz setup compiles our
# code at -O1 -g (tests/fuzz/CMakeLists.txt), which keeps ASan reports precise.
if [ -f build/test/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' build/test/CMakeCache.txt; then
  echo "build/test was configured with another compiler: starting it afresh" >&2
  rm -rf build/test
fi
CC=clang CXX=clang++ cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE= -DEMU_SANITIZE=ON \
  -DEMU_WERROR=ON -DEMU_BUILD_FUZZERS=ON -DEMU_FUZZ_SECONDS="$fuzz_seconds" -DEMU_TSAN=ON >/dev/null
cmake --build build/test -j "$jobs"
phase test-build

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The container's image (issue 18) builds while CTest runs, at the lowest CPU priority (the
# dockerd it starts inherits it): it takes the CPU the tests leave idle, which is most of the
# image's build, instead of adding its minutes after the suite.
container=0
if [[ -z ${CTEST_ARGS:-} && ${EMU_CONTAINER_TEST:-1} != 0 ]]; then
  container=1
  mkdir -p build
  nice -n 19 scripts/container-test.sh build >build/container-build.log 2>&1 &
  container_build=$!
fi
set +e
# shellcheck disable=SC2086
ctest --test-dir build/test --output-on-failure -j "$jobs" ${CTEST_ARGS:-}
ctest_rc=$?
set -e
phase ctest
if [[ $container == 1 ]]; then
  set +e
  wait "$container_build"
  build_rc=$?
  set -e
  phase container-build-rest
  cat build/container-build.log
  if [[ $ctest_rc -ne 0 ]]; then
    scripts/container-test.sh stop
    exit "$ctest_rc"
  fi
fi
[[ $ctest_rc -eq 0 ]] || exit "$ctest_rc"

# Then the container itself: compose up, the tutorial, telemetry, metrics, the dashboard.
if [[ $container == 1 ]]; then
  set +e
  if [[ $build_rc -eq 0 ]]; then
    scripts/container-test.sh run
    rc=$?
  else
    rc=$build_rc
  fi
  set -e
  phase container
  if [[ $rc -eq 77 ]]; then
    echo "test.sh: the container test was SKIPPED (reason above); everything else passed"
  elif [[ $rc -ne 0 ]]; then
    echo "test.sh: the container test FAILED" >&2
    exit "$rc"
  fi
fi

#!/usr/bin/env bash
# ThreadSanitizer run of the threaded parts (hub executor, MQTT gateway, AMQP front, HTTPS front,
# the app): builds iothub-emulator with -fsanitize=thread in build/tsan and runs the integration
# tests that drive the real binary against it (reliability, attack matrix, app command line, the
# official Node device SDK tests), with the fronts on 4 shared I/O threads.
# Every emulator process writes its TSan reports to build/tsan/reports/; the script fails if any
# report was written or any test failed, and prints the reports.
#   TSAN_TESTS="reliability/test_crash_safety attacks/test_auth"  a subset (paths under
#                                                              tests/integration, no .py)
#   TSAN_JOBS=N                                                 build parallelism (default nproc)
#   EMU_IO_THREADS=N                                            I/O threads of the fronts (default 4)
# Usage: scripts/tsan.sh [build|run]   (default: both). scripts/test.sh runs `build` before
# CTest, and CTest's `tsan_integration` test runs `run`, so the whole suite ends in one summary.
set -euo pipefail
mode=${1:-all}
case $mode in all | build | run) ;; *) echo "usage: $0 [build|run]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build/tsan
reports=$build/reports
jobs=${TSAN_JOBS:-$(nproc)}

if [ "$mode" != run ]; then
  # -O1 -g, as the TSan manual suggests: precise reports, and less compile time than
  # RelWithDebInfo's -O2 (measured in the test command: 230-266 s at -O1; about 6 min was
  # noted at -O2, not measured side by side).
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE= -DEMU_SANITIZE=OFF \
    -DEMU_WERROR=OFF -DEMU_BUILD_TESTS=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=thread -O1 -g" \
    "-DCMAKE_C_FLAGS=-fsanitize=thread -O1 -g" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
  cmake --build "$build" -j "$jobs" --target iothub-emulator
fi
[ "$mode" = build ] && exit 0
if [ ! -x "$build/emulator/app/iothub-emulator" ]; then
  echo "tsan: $build/emulator/app/iothub-emulator is missing; run scripts/tsan.sh build" >&2
  exit 1
fi

rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error=0: a report does not change the emulator's behaviour under test; the reports are
# collected from the files instead. exitcode=66 still makes a clean exit fail after a report.
export TSAN_OPTIONS="log_path=$reports/tsan halt_on_error=0 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
export EMU_BINARY=$build/emulator/app/iothub-emulator
export PYTHONPATH=$root/tests/support:$root/tests/integration/reliability:$root/tests/integration/attacks
# Slower binary: give each emulator life more time to stop.
export SHUTDOWN_BOUND_SECONDS=${SHUTDOWN_BOUND_SECONDS:-30}
# Every front on several I/O threads: connections really run in parallel.
export EMU_IO_THREADS=${EMU_IO_THREADS:-4}

default_tests="reliability/test_crash_safety reliability/test_graceful_shutdown reliability/test_storage_faults reliability/test_clock_steps
  attacks/test_auth attacks/test_topics attacks/test_sizes attacks/test_slow attacks/test_floods
  attacks/test_garbage attacks/test_database attacks/test_preauth app/test_cli
  eventhubs/test_eventhubs_amqp node/mqtt"
python=/usr/bin/python3  # python3-qpid-proton is a Debian package

# node/mqtt: the official Node device SDK tests (tests/node/mqtt) against the TSan binary, when
# `npm ci` has been run in tests/node. Node reads its CA at start: make it first.
node_mqtt() {
  if ! command -v node >/dev/null || [ ! -d "$root/tests/node/node_modules" ]; then
    echo "skipped: node or tests/node/node_modules missing (npm ci in tests/node)"
    return 0
  fi
  local ca=$build/node-ca
  (cd "$root/tests/node" && node registry/prepare_certs.js "$ca" >/dev/null &&
    MQTT_CERT_DIR=$ca/certs NODE_EXTRA_CA_CERTS=$ca/certs/ca.crt node --test mqtt/)
}

failed=()
start=$(date +%s)
for t in ${TSAN_TESTS:-$default_tests}; do
  echo "=== $t"
  t0=$(date +%s)
  if [ "$t" = node/mqtt ]; then
    node_mqtt || failed+=("$t")
  elif ! (cd "$root/tests/integration/$(dirname "$t")" && "$python" -m unittest "$(basename "$t")"); then
    failed+=("$t")
  fi
  echo "=== $t: $(($(date +%s) - t0)) s"
done
elapsed=$(($(date +%s) - start))

status=0
shopt -s nullglob
report_files=("$reports"/tsan*)
if ((${#report_files[@]})); then
  echo
  echo "ThreadSanitizer reports (${#report_files[@]} process(es)):"
  for f in "${report_files[@]}"; do
    echo "--- $f"
    cat "$f"
  done
  status=1
fi
echo
echo "tsan: ${#report_files[@]} process(es) with reports; failed tests: ${failed[*]:-none}; tests took ${elapsed} s"
((${#failed[@]})) && status=1
exit $status

# Cost, measured on the 2-core development machine: the build/tsan build of iothub-emulator takes
# about 2 minutes from scratch (seconds when only a few files changed); the tests above take
# about 3 minutes (the slow-connection and flood rows dominate: they wait for deadlines).

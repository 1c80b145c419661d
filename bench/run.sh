#!/usr/bin/env bash
# The benchmark suite (issue 8) in one command: builds everything in Release and runs
#   startup      exec -> ready file, idle RSS (medians)
#   connections  K idle TLS MQTT devices: connect rate, RSS per device, idle CPU
#   c2d_e2e      AMQP senders -> emulator -> MQTT devices (in memory and with a database file),
#                side by side with a Mosquitto broker and the raw SQLite C2D lifecycle
#   d2c_e2e      MQTT devices -> emulator -> an Event Hubs reader over AMQP (issue 14; in memory
#                and with a database file), side by side with a Mosquitto broker
#   twins        twin_method_e2e: twin reads and reported patches (MQTT devices), desired
#                patches and direct method round trips (the REST API)
#   curves       bench/curves.sh: cost against connected devices, the C2D backlog and the
#                telemetry log's size (tables and PNG plots; about 15 minutes)
# Every program starts its own processes on free loopback ports and stops them. Everything
# takes about 25 minutes on 2 cores (BENCH_ONLY picks one). Nothing here is part of the test
# suite.
#
#   bench/run.sh                  # everything, defaults
#   BENCH_ONLY=c2d bench/run.sh   # one: startup | connections | c2d | d2c | twins | curves
#
# Knobs (environment):
#   BENCH_BUILD_DIR    build directory                                   [build/bench]
#   BENCH_OUT          where the outputs (one .txt per program) go      [a new /tmp dir]
#   BENCH_ONLY         startup | connections | c2d | d2c | twins | curves [all]
#   STARTUP_RUNS       runs per mode                                     [10]
#   CONN_DEVICES       idle TLS devices (the fd hard limit is 20,000)    [19500]
#   CONN_PROCESSES     client processes, one source address each         [4]
#   CONN_IDLE_SECONDS  CPU measured over this many idle seconds          [10]
#   C2D_SENDERS        AMQP senders                                      [2]
#   C2D_DEVICES        MQTT devices                                      [100]
#   C2D_COUNT          messages in the saturation phase                  [30000]
#   C2D_RATE           offered rate of the latency phase, msg/s          [1000]
#   C2D_RATE_SECONDS   length of the latency phase                       [10]
#   C2D_INFLIGHT       the emulator's mqtt.inflightWindow                [1, the default]
#   C2D_MODES          emulator modes                                    [memory,file]
#   C2D_EXTRA          more c2d_e2e flags, e.g. "--mosquitto-plain --skip-sqlite"
#   D2C_DEVICES        MQTT devices publishing telemetry                 [100]
#   D2C_COUNT          events in the saturation phase                    [30000]
#   D2C_RATE           offered rate of the latency phase, events/s       [1000]
#   D2C_RATE_SECONDS   length of the latency phase                       [10]
#   D2C_MODES          emulator modes                                    [memory,file]
#   D2C_EXTRA          more d2c_e2e flags, e.g. "--inflight 20 --credit 5000 --mosquitto-plain"
#   TWIN_SECONDS       length of each twin/method phase                  [5]
#   TWIN_METHOD_RATE   offered rate of the method latency phase, calls/s [1000]
#   CURVE_*            the curves' knobs (bench/curves.sh)
# The profile of the durable path (valgrind/callgrind) is separate: bench/profile.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build/bench}"
out="${BENCH_OUT:-$(mktemp -d /tmp/iothub-bench-results-XXXXXX)}"
only="${BENCH_ONLY:-all}"
mkdir -p "$out"

# With the Mosquitto broker, the reference of c2d_e2e and d2c_e2e.
"$root/scripts/install-deps.sh" bench

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_BENCH=ON \
  -DEMU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target iothub-emulator c2d_e2e d2c_e2e connections startup \
  twin_method_e2e seed_db
bin="$build/bench"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "outputs: $out"

run() {  # name, command...
  local name=$1
  shift
  echo
  echo "################ $name"
  "$@" 2>&1 | tee "$out/$name.txt"
  return "${PIPESTATUS[0]}"
}

status=0
if [[ $only == all || $only == startup ]]; then
  run startup "$bin/startup" --runs "${STARTUP_RUNS:-10}" || status=1
fi
if [[ $only == all || $only == connections ]]; then
  run connections "$bin/connections" --devices "${CONN_DEVICES:-19500}" \
    --client-processes "${CONN_PROCESSES:-4}" --idle-seconds "${CONN_IDLE_SECONDS:-10}" || status=1
fi
if [[ $only == all || $only == c2d ]]; then
  # shellcheck disable=SC2086  # C2D_EXTRA is a list of flags
  run c2d_e2e "$bin/c2d_e2e" --senders "${C2D_SENDERS:-2}" --devices "${C2D_DEVICES:-100}" \
    --count "${C2D_COUNT:-30000}" --rate "${C2D_RATE:-1000}" \
    --rate-seconds "${C2D_RATE_SECONDS:-10}" --inflight-window "${C2D_INFLIGHT:-1}" \
    --modes "${C2D_MODES:-memory,file}" ${C2D_EXTRA:-} || status=1
fi
if [[ $only == all || $only == d2c ]]; then
  # shellcheck disable=SC2086  # D2C_EXTRA is a list of flags
  run d2c_e2e "$bin/d2c_e2e" --devices "${D2C_DEVICES:-100}" --count "${D2C_COUNT:-30000}" \
    --rate "${D2C_RATE:-1000}" --rate-seconds "${D2C_RATE_SECONDS:-10}" \
    --modes "${D2C_MODES:-memory,file}" ${D2C_EXTRA:-} || status=1
fi
if [[ $only == all || $only == twins ]]; then
  run twin_method_e2e "$bin/twin_method_e2e" --seconds "${TWIN_SECONDS:-5}" \
    --method-rate "${TWIN_METHOD_RATE:-1000}" || status=1
fi
if [[ $only == all || $only == curves ]]; then
  BENCH_BUILD_DIR="$build" BENCH_OUT="$out/curves" run curves "$here/curves.sh" || status=1
fi

echo
echo "################ summary"
grep -h '^SUMMARY' "$out"/*.txt || true
exit $status

#!/usr/bin/env bash
# Cost growth curves (issue 19, item 4). Each curve writes a Markdown table and a PNG plot
# (gnuplot) into the output directory; not part of the test suite.
#
#   devices    durable C2D msg/s and latency against the number of connected devices: c2d_e2e
#              with a database file (no Mosquitto, no raw SQLite reference), a saturation phase
#              of CURVE_COUNT messages and a latency phase at CURVE_RATE msg/s.
#   backlog    the same against the backlog: bench/seed_db writes a database with 20,000 other
#              devices and 0 / 100k / 1M queued messages spread over them (at most 50 each, the
#              queue depth), then c2d_e2e (100 devices) starts the emulator on a copy: exec →
#              ready with that backlog, RSS at ready, msg/s and p99 while the backlog stays.
#   telemetry  telemetry against the size of the telemetry log: seed_db writes 0 / 1M / 10M
#              events (eventHubs.maxEvents raised to hold them), then d2c_e2e (100 devices, an
#              Event Hubs reader at @latest): exec → ready, RSS, e2e events/s and p99.
#
#   bench/curves.sh                                    # all three, about 15 minutes on 2 cores
#   CURVES=backlog CURVE_BACKLOG="0 100000" bench/curves.sh
#
# Knobs (environment):
#   CURVES            which curves                             [devices backlog telemetry]
#   BENCH_BUILD_DIR   build directory                          [build/bench]
#   BENCH_OUT         where the tables, plots and raw outputs go   [a new /tmp dir]
#   CURVE_DEVICES     device counts                            [10 100 1000 5000 10000]
# (libmosquitto uses three descriptors per client (its socket and a socketpair), so the 20,000
# open-file limit stops one process near 6,600 devices: c2d_e2e puts the devices in
# ceil(N / 5000) processes, --device-processes.)
#   CURVE_BACKLOG     queued messages (over CURVE_BACKLOG_DEVICES devices) [0 100000 1000000]
#   CURVE_BACKLOG_DEVICES                                      [20000]
#   CURVE_TELEMETRY   telemetry events in the log              [0 1000000 10000000]
#   CURVE_COUNT       messages/events in each saturation phase [30000]
#   CURVE_RATE        offered rate of the latency phase        [1000]
#   CURVE_RATE_SECONDS length of the latency phase             [5]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build/bench}"
out="${BENCH_OUT:-$(mktemp -d /tmp/iothub-bench-curves-XXXXXX)}"
curves="${CURVES:-devices backlog telemetry}"
devices="${CURVE_DEVICES:-10 100 1000 5000 10000}"
backlogs="${CURVE_BACKLOG:-0 100000 1000000}"
backlog_devices="${CURVE_BACKLOG_DEVICES:-20000}"
telemetry_sizes="${CURVE_TELEMETRY:-0 1000000 10000000}"
count="${CURVE_COUNT:-30000}"
rate="${CURVE_RATE:-1000}"
rate_seconds="${CURVE_RATE_SECONDS:-5}"
mkdir -p "$out"

"$root/scripts/install-deps.sh" bench  # with gnuplot
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_BENCH=ON \
  -DEMU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target iothub-emulator c2d_e2e d2c_e2e seed_db

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "outputs: $out"

# A cell of the emulator's table row for `phase` (1-based among the |-separated cells).
cell() {  # file, phase, column
  awk -F'|' -v phase="$2" -v col="$3" \
    '$2 ~ /emulator/ && $3 ~ /file/ && $4 ~ phase { gsub(/ /, "", $(col + 1)); print $(col + 1) }' "$1"
}
# "ready 1921.4 ms after exec, RSS 803 MiB" → "1921.4 803"
ready_of() { awk '/^  ready / { print $2, $7; exit }' "$1"; }
# c2d_e2e columns: msg/s 6, p99 8, p99.9 9; d2c_e2e: e2e events/s 7, p99 10, p99.9 11.
c2d_row() { echo "$(cell "$1" saturation 6) $(cell "$1" saturation 8) $(cell "$1" rate 8) $(cell "$1" rate 9)"; }
d2c_row() { echo "$(cell "$1" saturation 7) $(cell "$1" saturation 10) $(cell "$1" rate 10) $(cell "$1" rate 11)"; }

# A Markdown table of a .dat file's rows (comment lines skipped) under the given headers.
md_table() {  # data file, column headers...
  local data=$1 h sep=""
  shift
  printf '|'
  for h in "$@"; do printf ' %s |' "$h"; sep+="---|"; done
  printf '\n|%s\n' "$sep"
  grep -v '^#' "$data" | while read -r -a cells; do
    printf '|'
    printf ' %s |' "${cells[@]}"
    printf '\n'
  done
}

# One point of a seeded curve: runs the benchmark (the command) on the seeded database, then
# appends "n ready_ms rss_mib db_mib" and the row function's cells to the data file.
seeded_point() {  # data file, n, database, raw output, row function, command...
  local data=$1 n=$2 db=$3 raw=$4 row=$5
  shift 5
  if ! "$@" >"$raw" 2>&1; then
    echo "$(basename "$1") on $db failed; see $raw"
    status=1
    rm -f "$db"
    return
  fi
  local db_mib=$(( $(stat -c %s "$db") / 1048576 ))
  rm -f "$db"
  grep -E '^  ready|^\| emulator' "$raw" || true
  echo "$n $(ready_of "$raw") $db_mib $($row "$raw")" >>"$data"
}

plot() {  # data file, png, title, x label, x column, y label, y column, y2 label, y2 column, logscale x?
  gnuplot <<EOF
set terminal pngcairo size 900,500 font "sans,10"
set output "$2"
set title "$3"
$([[ ${10} == log ]] && echo "set logscale x")
set xlabel "$4"
set ylabel "$6"
set y2label "$8"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom left
set grid
plot "$1" using $5:$7 with linespoints lw 2 title "$6", \
     "$1" using $5:$9 axes x1y2 with linespoints lw 2 title "$8"
EOF
  echo "plot: $2"
}

status=0

if [[ " $curves " == *" devices "* ]]; then
  data="$out/devices.dat"
  echo "# devices msg_per_s p99_saturation_ms p99_at_rate_ms p999_at_rate_ms" >"$data"
  for n in $devices; do
    echo
    echo "################ devices: $n"
    raw="$out/c2d_e2e-devices-$n.txt"
    if ! "$build/bench/c2d_e2e" --devices "$n" --device-processes $(( (n + 4999) / 5000 )) \
      --senders 2 --count "$count" --rate "$rate" --rate-seconds "$rate_seconds" --modes file \
      --skip-mosquitto --skip-sqlite >"$raw" 2>&1; then
      echo "c2d_e2e with $n devices failed; see $raw"
      status=1
      continue
    fi
    grep -E '^\| emulator' "$raw" || true
    echo "$n $(c2d_row "$raw")" >>"$data"
  done
  md_table "$data" "connected devices" "durable msg/s (saturation)" "p99 saturation ms" \
    "p99 @ $rate msg/s ms" "p99.9 @ $rate msg/s ms" >"$out/devices.md"
  plot "$data" "$out/devices.png" "Durable C2D end to end (AMQP senders -> emulator -> MQTT devices), database file" \
    "connected devices" 1 "msg/s (saturation)" 2 "p99 at $rate msg/s, ms" 4 log
fi

if [[ " $curves " == *" backlog "* ]]; then
  data="$out/backlog.dat"
  echo "# queued ready_ms rss_mib db_mib msg_per_s p99_saturation_ms p99_at_rate_ms p999_at_rate_ms" >"$data"
  for n in $backlogs; do
    echo
    echo "################ backlog: $n queued messages over $backlog_devices devices"
    db="$out/backlog-$n.db"
    "$build/bench/seed_db" --out "$db" --devices "$backlog_devices" --messages "$n"
    seeded_point "$data" "$n" "$db" "$out/c2d_e2e-backlog-$n.txt" c2d_row \
      "$build/bench/c2d_e2e" --devices 100 --senders 2 --count "$count" --rate "$rate" \
      --rate-seconds "$rate_seconds" --modes file --skip-mosquitto --skip-sqlite --seed-db "$db"
  done
  md_table "$data" "queued messages ($backlog_devices devices)" "exec → ready ms" \
    "RSS at ready MiB" "database MiB" "durable msg/s (saturation, 100 other devices)" \
    "p99 saturation ms" "p99 @ $rate msg/s ms" "p99.9 @ $rate msg/s ms" >"$out/backlog.md"
  plot "$data" "$out/backlog.png" "Durable C2D with a queued backlog (100 devices active, 20,000 holding the backlog)" \
    "queued messages" 1 "msg/s (saturation)" 5 "exec -> ready, ms" 2 lin
fi

if [[ " $curves " == *" telemetry "* ]]; then
  data="$out/telemetry.dat"
  echo "# events ready_ms rss_mib db_mib e2e_per_s p99_saturation_ms p99_at_rate_ms p999_at_rate_ms" >"$data"
  for n in $telemetry_sizes; do
    echo
    echo "################ telemetry log: $n events"
    max_events=$(( n > 1000000 ? n : 1000000 ))
    db="$out/telemetry-$n.db"
    "$build/bench/seed_db" --out "$db" --devices "$backlog_devices" --telemetry "$n" \
      --max-events "$max_events"
    seeded_point "$data" "$n" "$db" "$out/d2c_e2e-telemetry-$n.txt" d2c_row \
      "$build/bench/d2c_e2e" --devices 100 --count "$count" --rate "$rate" \
      --rate-seconds "$rate_seconds" --modes file --skip-mosquitto --seed-db "$db" \
      --max-events "$max_events"
  done
  md_table "$data" "events in the log" "exec → ready ms" "RSS at ready MiB" "database MiB" \
    "durable e2e events/s (saturation)" "p99 saturation ms" "p99 @ $rate events/s ms" \
    "p99.9 @ $rate events/s ms" >"$out/telemetry.md"
  plot "$data" "$out/telemetry.png" "Durable telemetry (100 MQTT devices -> emulator -> Event Hubs reader) against the log's size" \
    "events in the log" 1 "events/s (saturation)" 5 "exec -> ready, ms" 2 lin
fi

echo
echo "################ curves"
for f in devices backlog telemetry; do
  [[ -f "$out/$f.md" ]] && { echo "### $f"; cat "$out/$f.md"; echo; }
done
exit $status

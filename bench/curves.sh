#!/usr/bin/env bash
# Cost growth curves (issue 19, item 4), first curve: durable C2D throughput and latency against
# the number of connected devices. For each device count it runs bench/c2d_e2e with a database
# file only (no Mosquitto, no raw SQLite reference): a saturation phase of CURVE_COUNT messages
# and a latency phase at CURVE_RATE msg/s. It writes a Markdown table and a PNG plot (gnuplot).
# Not part of the test suite; the defaults take about ten minutes on 2 cores.
#
#   bench/curves.sh
#   CURVE_DEVICES="100 1000" bench/curves.sh
#
# Knobs (environment):
#   BENCH_BUILD_DIR   build directory                          [build/bench]
#   BENCH_OUT         where curves.md, devices.png and the raw outputs go   [a new /tmp dir]
#   CURVE_DEVICES     device counts                            [10 100 1000 5000]
# (c2d_e2e holds every device in one process, and libmosquitto uses three descriptors per client
# (its socket and a socketpair), so the 20,000 open-file limit stops it near 6,600 devices.)
#   CURVE_COUNT       messages in each saturation phase        [30000]
#   CURVE_RATE        offered rate of the latency phase        [1000]
#   CURVE_RATE_SECONDS length of the latency phase             [5]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build/bench}"
out="${BENCH_OUT:-$(mktemp -d /tmp/iothub-bench-curves-XXXXXX)}"
devices="${CURVE_DEVICES:-10 100 1000 5000}"
count="${CURVE_COUNT:-30000}"
rate="${CURVE_RATE:-1000}"
rate_seconds="${CURVE_RATE_SECONDS:-5}"
mkdir -p "$out"

"$root/scripts/install-deps.sh" bench  # with gnuplot
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_BENCH=ON \
  -DEMU_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target iothub-emulator c2d_e2e

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "outputs: $out"

# One c2d_e2e table row's column (1-based among the |-separated cells).
cell() {  # file, phase, column
  awk -F'|' -v phase="$2" -v col="$3" \
    '$2 ~ /emulator/ && $3 ~ /file/ && $4 ~ phase { gsub(/ /, "", $(col + 1)); print $(col + 1) }' "$1"
}

data="$out/devices.dat"
echo "# devices msg_per_s p99_saturation_ms p99_at_rate_ms p999_at_rate_ms" >"$data"
status=0
for n in $devices; do
  echo
  echo "################ $n devices"
  raw="$out/c2d_e2e-$n.txt"
  if ! "$build/bench/c2d_e2e" --devices "$n" --senders 2 --count "$count" --rate "$rate" \
    --rate-seconds "$rate_seconds" --modes file --skip-mosquitto --skip-sqlite >"$raw" 2>&1; then
    echo "c2d_e2e with $n devices failed; see $raw"
    status=1
    continue
  fi
  grep -E '^\| emulator' "$raw" || true
  echo "$n $(cell "$raw" saturation 6) $(cell "$raw" saturation 8) $(cell "$raw" rate 8) $(cell "$raw" rate 9)" >>"$data"
done

table="$out/curves.md"
{
  echo "| connected devices | durable msg/s (saturation) | p99 saturation ms | p99 @ $rate msg/s ms | p99.9 @ $rate msg/s ms |"
  echo "|---|---|---|---|---|"
  grep -v '^#' "$data" | while read -r n mps p99s p99r p999r; do
    echo "| $n | $mps | $p99s | $p99r | $p999r |"
  done
} >"$table"
echo
echo "################ curves"
cat "$table"

gnuplot <<EOF
set terminal pngcairo size 900,500 font "sans,10"
set output "$out/devices.png"
set title "Durable C2D end to end (AMQP senders -> emulator -> MQTT devices), database file"
set logscale x
set xlabel "connected devices"
set ylabel "msg/s (saturation)"
set y2label "p99 at $rate msg/s, ms"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom left
set grid
plot "$data" using 1:2 with linespoints lw 2 title "msg/s", \
     "$data" using 1:4 axes x1y2 with linespoints lw 2 title "p99 @ $rate msg/s (ms)"
EOF
echo "plot: $out/devices.png"
exit $status

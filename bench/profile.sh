#!/usr/bin/env bash
# Instruction-count profile of the emulator's durable C2D path (valgrind --tool=callgrind).
#
# Instruction counts do not depend on how busy the machine is, so they compare before/after a
# change where wall-clock figures cannot. The emulator runs under callgrind with a database
# file; c2d_e2e drives a fixed small load (saturation phase only) and, through C2D_PHASE_HOOK,
# zeroes the counters when the phase starts and dumps them when it ends, so the profile holds
# the steady state only (no start-up, TLS handshakes or shutdown).
#
# Knobs (environment):
#   PROFILE_COUNT     messages in the profiled phase          [2000]
#   PROFILE_DEVICES   MQTT devices                            [20]
#   PROFILE_SENDERS   AMQP senders                            [1]
#   PROFILE_MODE      file | memory                           [file]
#   PROFILE_BUILD     build directory (Release + -g)          [build/bench-prof]
#   PROFILE_OUT       output directory                        [a new /tmp/iothub-bench-profile-*]
#
# Output: $PROFILE_OUT/callgrind.out.<pid>.<n> (the phase's dump), annotate-{inclusive,self,
# calling}.txt, and one line with instructions per message.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
count="${PROFILE_COUNT:-2000}"
devices="${PROFILE_DEVICES:-20}"
senders="${PROFILE_SENDERS:-1}"
mode="${PROFILE_MODE:-file}"
build="${PROFILE_BUILD:-$root/build/bench-prof}"
out="${PROFILE_OUT:-$(mktemp -d /tmp/iothub-bench-profile-XXXXXX)}"
mkdir -p "$out"

command -v valgrind >/dev/null || { echo "profile.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
if [ ! -x "$build/bench/c2d_e2e" ] || [ ! -x "$build/emulator/app/iothub-emulator" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="-g -fno-omit-frame-pointer" -DEMU_BUILD_BENCH=ON -DEMU_BUILD_TESTS=OFF >/dev/null
fi
ninja -C "$build" -j2 iothub-emulator c2d_e2e >/dev/null

# The hook: zero at the phase start, dump at its end (callgrind_control talks to the process).
hook="$out/phase-hook.sh"
cat >"$hook" <<'EOF'
#!/usr/bin/env bash
# $1 = start|end, $2 = phase, $3 = pid
case "$1" in
  start) callgrind_control -z "$3" >/dev/null ;;
  end)   callgrind_control -d "phase-$2" "$3" >/dev/null ;;
esac
EOF
chmod +x "$hook"

C2D_PHASE_HOOK="$hook" "$build/bench/c2d_e2e" \
  --emulator "$build/emulator/app/iothub-emulator" \
  --emulator-prefix "valgrind --tool=callgrind --callgrind-out-file=$out/callgrind.out.%p --dump-instr=no" \
  --modes "$mode" --skip-mosquitto --skip-sqlite --rate 0 --count "$count" \
  --devices "$devices" --senders "$senders" --log-level warn --feedback-timeout 120 \
  | tee "$out/c2d_e2e.txt"

dump="$(ls -t "$out"/callgrind.out.*.* 2>/dev/null | grep -v '\.0$' | head -1 || true)"
[ -n "$dump" ] || dump="$(ls -t "$out"/callgrind.out.* | head -1)"
# --threshold=100: every function, not only the top 99% (which a few thread roots fill).
callgrind_annotate --threshold=100 --inclusive=yes "$dump" >"$out/annotate-inclusive.txt"
callgrind_annotate --threshold=100 "$dump" >"$out/annotate-self.txt"
callgrind_annotate --threshold=100 --inclusive=yes --tree=calling "$dump" >"$out/annotate-calling.txt"
total="$(grep -m1 'PROGRAM TOTALS' "$out/annotate-self.txt" | awk '{gsub(",","",$1); print $1}')"
echo
echo "profile: $dump"
echo "PROFILE ${mode}: ${total} instructions for ${count} messages = $(( total / count )) instructions/message (emulator process, all threads)"
echo "annotations: $out/annotate-inclusive.txt $out/annotate-self.txt $out/annotate-calling.txt"

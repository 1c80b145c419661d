# Shared by the SDK conformance scripts (sourced, not run): installing what is missing, the
# emulator build, and a fresh emulator on the default ports. Expects ROOT and NAME (the
# script's name for messages) to be set.

# install_missing PACKAGE...: apt-get installs those not installed yet.
install_missing() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
  done
  if ((${#need[@]})); then
    echo "$NAME: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# The emulator: $EMU_BINARY, or the scripts/run.sh build brought up to date.
EMU=${EMU_BINARY:-$ROOT/build/release/emulator/app/iothub-emulator}
build_emulator() {
  [[ -n "${EMU_BINARY:-}" ]] && return
  cmake -S "$ROOT" -B "$ROOT/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DEMU_BUILD_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build/release" --target iothub-emulator >/dev/null
}

# start_emulator: a fresh in-memory hub on the default ports in $work (a temporary directory,
# removed with the emulator on exit); its ready file is $work/ready.json, its log
# $work/emulator.log.
work=$(mktemp -d)
emu_pid=
stop_emulator() {
  [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap stop_emulator EXIT
start_emulator() {  # extra emulator arguments...
  "$EMU" --in-memory --data-dir "$work/hub" --ready-file "$work/ready.json" "$@" \
    >"$work/emulator.log" 2>&1 &
  emu_pid=$!
  for _ in $(seq 1 300); do  # the ready file appears once every listener is bound
    [[ -s "$work/ready.json" ]] && return
    kill -0 "$emu_pid" 2>/dev/null || { cat "$work/emulator.log"; exit 1; }
    sleep 0.1
  done
  echo "$NAME: the emulator did not become ready"
  exit 1
}

#!/usr/bin/env bash
# Installs what iothub-emulator needs on Debian 12, and nothing that is already there.
#   scripts/install-deps.sh run    build and run the emulator
#   scripts/install-deps.sh test   also the test suite's tools: clang/libFuzzer, mosquitto
#                                  clients, python3-qpid-proton, the container engine
#                                  (docker.io, docker-compose, debootstrap for the base image),
#                                  prometheus (promtool checks /metrics), chromium (the
#                                  dashboard's browser test), and the
#                                  official Node SDK packages (npm ci in tests/node)
#   scripts/install-deps.sh bench  run's packages and the benchmarks' references and plots: the
#                                  Mosquitto broker (bench/run.sh), gnuplot (bench/curves.sh)
set -euo pipefail
mode=${1:-run}
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config openssl libssl-dev libsqlite3-dev
  nlohmann-json3-dev libasio-dev libqpid-proton-cpp12-dev libqpid-proton11-dev
  libmosquitto-dev libspdlog-dev libfmt-dev libcli11-dev libjemalloc-dev)
if [[ $mode == test ]]; then
  # libcpp-httplib-dev: the MQTT integration harness's HTTP client (the emulator has its own).
  packages+=(doctest-dev libcpp-httplib-dev clang libclang-rt-14-dev mosquitto-clients python3
    python3-qpid-proton docker.io docker-compose debootstrap curl python3-yaml prometheus chromium)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
elif [[ $mode == bench ]]; then
  packages+=(mosquitto gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

if [[ $mode == test && -f tests/node/package-lock.json ]]; then
  # npm ci only when the lock file changed since the last install.
  stamp=tests/node/node_modules/.package-lock.json
  if [[ ! -f $stamp || tests/node/package-lock.json -nt $stamp ]]; then
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

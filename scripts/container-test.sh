#!/usr/bin/env bash
# The container for real (issue 18): builds the image from the Dockerfile (on the pinned base,
# scripts/base-image.sh), brings compose.yaml up, waits until the emulator is healthy (its
# healthcheck asks GET /health), runs the tutorial profile to its Success feedback, sends
# telemetry from the host with mosquitto_pub and reads it with the read-telemetry service,
# scrapes /metrics from the host and through the observe profile's Prometheus, loads the
# dashboard from the host (data only with an iothubowner token, no keys shown), checks that a
# root-owned bind-mounted data directory is refused with a clear message, and tears everything
# down with -v. Prints the image size and the time to healthy.
#
# Starts the Docker engine (dockerd) if none runs and it can (root), and stops it again.
# Exit codes: 0 passed; 77 skipped, with the reason on stderr (no engine can be started);
# anything else failed. Used by scripts/test.sh; runs alone too.
#   IOTHUB_CT_PORT_BASE=N  publish MQTT, AMQP, HTTPS, Prometheus on N+8883, N+5671, N+443,
#                          N+9090 of 127.0.0.1 (default 10000: no clash with a local hub)
# Usage: scripts/container-test.sh [all|build|run|stop]   (default all)
#   build  the engine, the base image and the images only; a dockerd it started keeps running
#          for `run` (its pid in build/container-test/dockerd.pid). scripts/test.sh runs it
#          under `nice -n 19` while CTest runs, so the image takes only the CPU the tests leave.
#   run    everything after the build; stops a dockerd that `build` started.
#   stop   only that: stops a dockerd that `build` started (after a failed suite).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
case $mode in all | build | run | stop) ;; *) echo "usage: $0 [all|build|run|stop]" >&2; exit 2 ;; esac
state_dir=$PWD/build/container-test
mkdir -p "$state_dir"
project=iothub-container-test
base=${IOTHUB_CT_PORT_BASE:-10000}
export IOTHUB_MQTT_PORT=$((base + 8883)) IOTHUB_AMQP_PORT=$((base + 5671))
export IOTHUB_HTTPS_PORT=$((base + 443)) PROMETHEUS_PORT=$((base + 9090))
work=$(mktemp -d /tmp/iothub-container-test.XXXXXX)
compose=(docker-compose -p "$project" --profile tutorial --profile observe)
dockerd_pid=""

say() { echo "container-test: $*"; }
skip() { echo "container-test: SKIPPED: $*" >&2; exit 77; }
fail() {
  echo "container-test: FAILED: $*" >&2
  "${compose[@]}" logs --no-color --tail=60 >&2 2>/dev/null || true
  exit 1
}
stop_dockerd() {
  [[ -n $dockerd_pid ]] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  # Not always our child (a `build` run started it): wait for it to be gone.
  for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state_dir/dockerd.pid"
}
cleanup() {
  local rc=$?
  if [[ $mode == build ]]; then
    # The images are what `run` needs; the engine stays up for it (unless the build failed).
    [[ $rc -eq 0 ]] || stop_dockerd
    rm -rf "$work" 2>/dev/null || true
    return
  fi
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  docker rm -fv iothub >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || true
  stop_dockerd
}
trap cleanup EXIT
# A dockerd that a `build` run started is this run's to stop.
if [[ $mode != build && -f $state_dir/dockerd.pid ]] && kill -0 "$(cat "$state_dir/dockerd.pid")" 2>/dev/null; then
  dockerd_pid=$(cat "$state_dir/dockerd.pid")
fi
if [[ $mode == stop ]]; then
  trap - EXIT
  stop_dockerd
  exit 0
fi

# ---- the engine -------------------------------------------------------------------------------
command -v docker >/dev/null || skip "no docker client (Debian package docker.io)"
command -v docker-compose >/dev/null || skip "no docker-compose (Debian package docker-compose)"
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || skip "no Docker engine runs and dockerd is not installed"
  [[ $(id -u) -eq 0 ]] || skip "no Docker engine runs and starting dockerd needs root"
  say "starting dockerd (log: $state_dir/dockerd.log)"
  dockerd >"$state_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  echo "$dockerd_pid" >"$state_dir/dockerd.pid"
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || skip "dockerd exited: $(tail -n 3 "$state_dir/dockerd.log")"
    sleep 1
  done
  docker info >/dev/null 2>&1 || skip "dockerd did not answer within 60 s: $(tail -n 3 "$state_dir/dockerd.log")"
fi
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true  # a run killed half-way

# ---- build --------------------------------------------------------------------------------------
if [[ $mode != run ]]; then
  scripts/base-image.sh
  say "building the images (emulator, prometheus)"
  started=$(date +%s)
  "${compose[@]}" build -q iothub-emulator prometheus >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; fail "docker-compose build"; }
  say "built in $(($(date +%s) - started)) s"
  size=$(docker image inspect -f '{{.Size}}' iothub-emulator:local)
  say "image iothub-emulator:local: $((size / 1000 / 1000)) MB ($(numfmt --to=iec "$size"))"
  [[ $mode == build ]] && exit 0
fi
docker image inspect iothub-emulator:local >/dev/null 2>&1 \
  || fail "no image iothub-emulator:local (run: $0 build)"

# ---- up, healthy --------------------------------------------------------------------------------
started_ms=$(date +%s%3N)
"${compose[@]}" up -d iothub-emulator >/dev/null 2>&1 || fail "docker-compose up"
container=$("${compose[@]}" ps -q iothub-emulator)
for _ in $(seq 600); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$container")
  [[ $health == healthy ]] && break
  [[ $(docker inspect -f '{{.State.Running}}' "$container") == true ]] || fail "the emulator exited"
  sleep 0.1
done
[[ $health == healthy ]] || fail "not healthy after 60 s ($health)"
say "healthy after $(($(date +%s%3N) - started_ms)) ms"
"${compose[@]}" logs --no-color iothub-emulator | grep -q 'HostName=iothub-emulator.internal;DeviceId=myDevice' \
  || fail "the emulator did not print the default device's connection string"

# ---- the tutorial -------------------------------------------------------------------------------
say "tutorial profile: simulated-device and send-c2d"
if ! timeout 300 "${compose[@]}" up --no-color --exit-code-from send-c2d simulated-device send-c2d \
  >"$work/tutorial.log" 2>&1; then
  tail -n 40 "$work/tutorial.log" >&2
  fail "the tutorial profile did not end with send-c2d's success"
fi
grep -q 'Feedback received for all 3 messages: Success' "$work/tutorial.log" \
  || { tail -n 40 "$work/tutorial.log" >&2; fail "no Success feedback for all three messages"; }
[[ $(grep -c 'simulated-device.*| Message received' "$work/tutorial.log") -ge 3 ]] \
  || { tail -n 40 "$work/tutorial.log" >&2; fail "simulated-device did not print three messages"; }
say "tutorial: three messages delivered, Success feedback for all three"

# --exit-code-from stops what that `up` ran; the emulator comes back on the same volume.
"${compose[@]}" up -d iothub-emulator >/dev/null 2>&1 || fail "docker-compose up (again)"
container=$("${compose[@]}" ps -q iothub-emulator)
for _ in $(seq 600); do
  [[ $(docker inspect -f '{{.State.Health.Status}}' "$container") == healthy ]] && break
  sleep 0.1
done

# ---- telemetry: mosquitto_pub on the host, read-telemetry in the compose network ---------------
docker cp "$container:/data/certs/ca.crt" "$work/ca.crt" >/dev/null
device_cs='HostName=iothub-emulator.internal;DeviceId=myDevice;SharedAccessKey=SFLuYJxmAK3qF70FLO6fIiRxRUV+YLwFaUSvij7CKnI='
token=$("${compose[@]}" exec -T iothub-emulator iothub-emulator sas-token --connection-string "$device_cs")
mosquitto_pub -h 127.0.0.1 -p "$IOTHUB_MQTT_PORT" --cafile "$work/ca.crt" -V mqttv311 -q 1 \
  -i myDevice -u 'iothub-emulator.internal/myDevice/?api-version=2021-04-12' -P "$token" \
  -t 'devices/myDevice/messages/events/' -m 'hello from the container test' \
  || fail "mosquitto_pub of telemetry to 127.0.0.1:$IOTHUB_MQTT_PORT"
"${compose[@]}" run --rm -T read-telemetry --ca-file /data/certs/ca.crt --start earliest --count 1 \
  --timeout 60 >"$work/telemetry.log" 2>&1 \
  || { cat "$work/telemetry.log" >&2; fail "read-telemetry"; }
grep -q 'hello from the container test' "$work/telemetry.log" \
  || { cat "$work/telemetry.log" >&2; fail "read-telemetry did not print the event"; }
say "telemetry: sent with mosquitto_pub, read from the Event Hubs-compatible endpoint"

# ---- metrics: from the host, and scraped by Prometheus -----------------------------------------
metrics=$(curl -fsS --cacert "$work/ca.crt" "https://127.0.0.1:$IOTHUB_HTTPS_PORT/metrics") \
  || fail "GET /metrics from the host"
grep -q '^iothub_telemetry_read_total{partition="[0-9]*"} [1-9]' <<<"$metrics" \
  || fail "/metrics shows no telemetry read"
"${compose[@]}" up -d prometheus >/dev/null 2>&1 || fail "docker-compose up prometheus"
query="http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query?query=iothub_telemetry_appended_total"
for _ in $(seq 120); do
  if curl -fsS "$query" 2>/dev/null | grep -q '"result":\[{'; then break; fi
  sleep 0.5
done
curl -fsS "$query" | grep -q '"result":\[{' || fail "Prometheus did not scrape the emulator's /metrics"
say "metrics: /metrics from the host, and Prometheus scraped it"

# ---- the dashboard: from the host (a remote peer for the container), data only with a token ----
dash="https://127.0.0.1:$IOTHUB_HTTPS_PORT"
curl -fsS --cacert "$work/ca.crt" "$dash/" | grep -q '<title>IoT Hub emulator</title>' \
  || fail "GET / (the dashboard page) from the host"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.crt" "$dash/dashboard/state")
[[ $code == 401 ]] || fail "the dashboard's data without a token answered $code, not 401"
owner_cs='HostName=iothub-emulator.internal;SharedAccessKeyName=iothubowner;SharedAccessKey=OdtOwlXnHd2Pw8RmbhiPaCN+ZahPZ44vvv4QQtf1LII='
owner_token=$("${compose[@]}" exec -T iothub-emulator iothub-emulator sas-token --connection-string "$owner_cs")
view=$(curl -fsS --cacert "$work/ca.crt" -H "Authorization: $owner_token" "$dash/dashboard/state?device=myDevice") \
  || fail "the dashboard's data with an iothubowner token"
grep -q '"deviceId":"myDevice"' <<<"$view" || fail "the dashboard's data does not show myDevice"
grep -q 'hello from the container test' <<<"$view" || fail "the dashboard's telemetry tail is empty"
! grep -q 'SharedAccessKey' <<<"$view" || fail "the dashboard showed a key to a remote peer"
say "dashboard: the page, and its data with a token only, without keys"

# ---- a root-owned bind-mounted data directory ---------------------------------------------------
mkdir -p "$work/root-owned"
chmod 755 "$work/root-owned"
set +e
refused=$(timeout 60 docker run --rm -v "$work/root-owned:/data" iothub-emulator:local 2>&1)
code=$?
set -e
[[ $code -ne 0 && $code -ne 124 ]] || fail "a data directory uid 10001 cannot write was not refused ($code)"
grep -qi 'uid 10001' <<<"$refused" || { echo "$refused" >&2; fail "the refusal does not say which uid must own /data"; }
say "a root-owned bind mount is refused (exit $code) and the message names uid 10001"

"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || fail "docker-compose down -v"

# ---- examples/github-actions: its "Start iothub-emulator" step, as written --------------------
say "examples/github-actions/iothub-emulator.yml: the start step"
/usr/bin/python3 - "$work/gha-start.sh" <<'PY'
import sys, yaml
with open("examples/github-actions/iothub-emulator.yml") as f:
    workflow = yaml.safe_load(f)
steps = workflow["jobs"]["test"]["steps"]
run = next(s["run"] for s in steps if s.get("name") == "Start iothub-emulator")
with open(sys.argv[1], "w") as out:
    out.write(run)
PY
docker rm -fv iothub >/dev/null 2>&1 || true
: >"$work/github_env"
RUNNER_TEMP=$work GITHUB_ENV=$work/github_env bash -e "$work/gha-start.sh" >"$work/gha.log" 2>&1 \
  || { cat "$work/gha.log" >&2; docker rm -fv iothub >/dev/null 2>&1; fail "the GitHub Actions start step"; }
gha_device=$(sed -n 's/^IOTHUB_DEVICE_CONNECTION_STRING=//p' "$work/github_env")
gha_ca=$(sed -n 's/^IOTHUB_CA_FILE=//p' "$work/github_env")
gha_token=$(docker exec iothub iothub-emulator sas-token --connection-string "$gha_device")
mosquitto_pub -h 127.0.0.1 -p 8883 --cafile "$gha_ca" -V mqttv311 -q 1 -i myDevice \
  -u '127.0.0.1/myDevice/?api-version=2021-04-12' -P "$gha_token" \
  -t 'devices/myDevice/messages/events/' -m 'from the workflow' \
  || { docker rm -fv iothub >/dev/null 2>&1; fail "a device with the workflow's connection string and CA"; }
gha_metrics=$(curl -fsS --cacert "$gha_ca" https://127.0.0.1:443/metrics) || true
docker rm -fv iothub >/dev/null 2>&1 || true
grep -q '^iothub_telemetry_appended_total{partition="[0-9]*"} 1$' <<<"$gha_metrics" \
  || fail "the workflow's emulator did not count the device's telemetry"
say "github-actions: the start step ran; its connection string and CA work from the host"

# ---- examples/testcontainers-node -------------------------------------------------------------
say "examples/testcontainers-node: npm test"
(
  cd examples/testcontainers-node
  stamp=node_modules/.package-lock.json
  if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  # No registry here for Testcontainers' reaper image: the test stops its container itself.
  TESTCONTAINERS_RYUK_DISABLED=true timeout 300 node --test
) >"$work/testcontainers.log" 2>&1 || { tail -n 40 "$work/testcontainers.log" >&2; fail "the Testcontainers example"; }
grep -q '^# pass [1-9]' "$work/testcontainers.log" && grep -q '^# fail 0$' "$work/testcontainers.log" \
  || { tail -n 40 "$work/testcontainers.log" >&2; fail "the Testcontainers example ran no passing test"; }
say "testcontainers-node: passed"
say "passed"

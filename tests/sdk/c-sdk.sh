#!/usr/bin/env bash
# Conformance of the Azure IoT C SDK (and so of the legacy Python `iothub_service_client`,
# its binding) with the emulator: builds the SDK's own samples with nothing changed but the
# connection string (and a device id where the sample leaves it empty), runs them against a
# fresh emulator on the default ports with the connection strings it prints, and prints a
# pass/fail table. Not part of the test suite: CI reaches only package registries, and the C
# SDK comes from its public source repository.
#
#   tests/sdk/c-sdk.sh [SDK_DIR]
#
# SDK_DIR (or $AZURE_IOT_SDK_C_DIR): a checkout of the public Azure/azure-iot-sdk-c repository
# with its submodules (clone it recursively; tested with the tag LTS_03_2025). Without one the
# script says so and exits 0 ("skipped"). It needs root (ports 443/5671/8883, and a private
# mount namespace for libcurl's CA bundle, below), installs the SDK's build dependencies with
# apt, and builds into $C_SDK_BUILD_DIR (default build/c-sdk). $EMU_BINARY picks the emulator
# (default: the one scripts/run.sh builds, built here if missing).
#
# How each client trusts the emulator's CA, unmodified (README "Trusting the CA"):
#   - MQTT and AMQP go through OpenSSL (tlsio_openssl), which loads the default verify paths:
#     SSL_CERT_FILE=<ca.crt> is enough.
#   - The registry manager goes through libcurl, which uses its compiled-in bundle and ignores
#     SSL_CERT_FILE: the CA must be in the system bundle. Here it is added in a private mount
#     namespace (unshare), so the machine's bundle is not touched.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SDK=${1:-${AZURE_IOT_SDK_C_DIR:-}}
if [[ -z "$SDK" || ! -f "$SDK/iothub_client/CMakeLists.txt" || ! -f "$SDK/c-utility/CMakeLists.txt" ]]; then
  echo "c-sdk: skipped: no C SDK checkout with submodules (pass its directory or set AZURE_IOT_SDK_C_DIR;"
  echo "       clone the public Azure/azure-iot-sdk-c repository recursively, e.g. at LTS_03_2025)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "c-sdk: skipped: needs root (ports 443/5671/8883 and unshare for libcurl's CA bundle)"
  exit 0
fi
SDK=$(cd "$SDK" && pwd)
BUILD=${C_SDK_BUILD_DIR:-$ROOT/build/c-sdk}
JOBS=${JOBS:-$(nproc)}
NAME=c-sdk
source "$ROOT/tests/sdk/sdk_common.sh"
install_missing cmake build-essential libssl-dev libcurl4-openssl-dev uuid-dev pkg-config python3
build_emulator

# ---- a fresh emulator, default ports, the connection strings it prints ------------------------
# Besides myDevice: two X.509 devices (README "Identities"), one self-signed and one signed by
# a device CA the config registers as verified, with certificates from certs/gen.sh.
bash "$ROOT/certs/gen.sh" --device x509-self --device x509-ca -o "$work/devcerts" >/dev/null
thumbprint=$(openssl x509 -in "$work/devcerts/devices/x509-self-self.crt" -noout -fingerprint \
  -sha1 | sed 's/.*=//; s/://g')
cat >"$work/config.json" <<EOF
{"devices": [{"deviceId": "myDevice"},
             {"deviceId": "x509-self", "authentication": "selfSigned",
              "primaryThumbprint": "$thumbprint"},
             {"deviceId": "x509-ca", "authentication": "certificateAuthority"}],
 "caCertificates": [{"name": "device-ca", "file": "$work/devcerts/device-ca.crt"}]}
EOF
start_emulator --config "$work/config.json"
field() { python3 -c "import json,sys; r=json.load(open('$work/ready.json')); print($1)"; }
DEVICE_CS=$(field 'r["connectionStrings"]["devices"]["myDevice"]')
OWNER_CS=$(field 'r["connectionStrings"]["iothubowner"]')
SERVICE_CS=$(field 'r["connectionStrings"]["service"]')
CA=$(field 'r["caCertificate"]')
echo "c-sdk: emulator ready; device string: ${DEVICE_CS%%;SharedAccessKey=*};SharedAccessKey=..."

# ---- the SDK's samples with the strings injected -------------------------------------------
# A copy of the SDK whose sample sources differ only in the injected values.
mkdir -p "$BUILD"
rsync -a --delete --exclude .git "$SDK/" "$BUILD/src/" 2>/dev/null || {
  rm -rf "$BUILD/src" && cp -a "$SDK" "$BUILD/src"
}
inject() {  # file, C variable, value
  python3 - "$1" "$2" "$3" <<'EOF'
import re, sys
path, name, value = sys.argv[1:]
text = open(path).read()
new, n = re.subn(r'(static const char\* %s = )"[^"]*";' % re.escape(name),
                 lambda m: m.group(1) + '"%s";' % value, text, count=1)
if n != 1:
    sys.exit("no %s in %s" % (name, path))
open(path, "w").write(new)
EOF
}
protocol() {  # file, SAMPLE_MQTT | SAMPLE_AMQP | ...: the sample's own protocol switch
  sed -i -E 's|^#define (SAMPLE_[A-Z_]+)$|//#define \1|; s|^//#define '"$2"'$|#define '"$2"'|' "$1"
}
S=$BUILD/src
C2D=$S/iothub_client/samples/iothub_ll_c2d_sample/iothub_ll_c2d_sample.c
TELEMETRY=$S/iothub_client/samples/iothub_ll_telemetry_sample/iothub_ll_telemetry_sample.c
MESSAGING=$S/iothub_service_client/samples/iothub_messaging_sample/iothub_messaging_sample.c
REGISTRY=$S/iothub_service_client/samples/iothub_registrymanager_sample/iothub_registrymanager_sample.c
inject "$C2D" connectionString "$DEVICE_CS"
inject "$TELEMETRY" connectionString "$DEVICE_CS"
inject "$MESSAGING" connectionString "$SERVICE_CS"
inject "$MESSAGING" deviceId myDevice
inject "$REGISTRY" connectionString "$OWNER_CS"
inject "$REGISTRY" deviceId c-sdk-registry-device
X509=$S/iothub_client/samples/iothub_ll_client_x509_sample/iothub_ll_client_x509_sample.c
inject_pem() {  # file, C variable, PEM file: replaces the sample's multi-line literal
  python3 - "$1" "$2" "$3" <<'EOF'
import re, sys
path, name, pem = sys.argv[1:]
text = open(path).read()
literal = "\n".join('"%s\\n"' % line for line in open(pem).read().strip().splitlines())
new, n = re.subn(r'(static const char\* %s =)[^;]*;' % re.escape(name),
                 lambda m: m.group(1) + "\n" + literal + ";", text, count=1)
if n != 1:
    sys.exit("no %s in %s" % (name, path))
open(path, "w").write(new)
EOF
}
x509_sample() {  # device id, certificate stem: the x509 sample injected for that device
  inject "$X509" connectionString "HostName=$(field 'r["hostName"]');DeviceId=$1;x509=true"
  inject_pem "$X509" x509certificate "$work/devcerts/devices/$2.crt"
  inject_pem "$X509" x509privatekey "$work/devcerts/devices/$2.key"
}

echo "c-sdk: building the SDK and its samples in $BUILD (the first time takes a while)"
cmake -S "$S" -B "$BUILD/out" -DCMAKE_BUILD_TYPE=Release -Duse_mqtt=ON -Duse_amqp=ON \
  -Duse_http=ON -Dskip_samples=OFF -Drun_e2e_tests=OFF -Drun_unittests=OFF \
  -Dbuild_provisioning_service_client=OFF -Duse_prov_client=OFF -Dbuild_service_client=ON \
  -DCMAKE_C_FLAGS="-Wno-error" >"$BUILD/configure.log" 2>&1 || {
  tail -30 "$BUILD/configure.log"
  exit 1
}
bins=$work/bin
mkdir -p "$bins"
build() {  # target, name of the copy
  cmake --build "$BUILD/out" -j "$JOBS" --target "$1" >"$BUILD/build-$2.log" 2>&1 || {
    tail -30 "$BUILD/build-$2.log"
    exit 1
  }
  cp "$(find "$BUILD/out" -type f -name "$1" -perm -u+x | head -1)" "$bins/$2"
}
protocol "$C2D" SAMPLE_MQTT && build iothub_ll_c2d_sample c2d-mqtt
protocol "$C2D" SAMPLE_AMQP && build iothub_ll_c2d_sample c2d-amqp
protocol "$TELEMETRY" SAMPLE_MQTT && build iothub_ll_telemetry_sample telemetry-mqtt
protocol "$TELEMETRY" SAMPLE_AMQP && build iothub_ll_telemetry_sample telemetry-amqp
protocol "$TELEMETRY" SAMPLE_HTTP && build iothub_ll_telemetry_sample telemetry-http
for device in x509-self x509-ca; do
  stem=$device && [[ $device == x509-self ]] && stem=x509-self-self
  x509_sample "$device" "$stem"
  protocol "$X509" SAMPLE_MQTT && build iothub_ll_client_x509_sample "$device-mqtt"
  protocol "$X509" SAMPLE_AMQP && build iothub_ll_client_x509_sample "$device-amqp"
done
build iothub_messaging_sample messaging
build iothub_registrymanager_sample registrymanager

# ---- run them ---------------------------------------------------------------------------------
export SSL_CERT_FILE=$CA
results=()
record() { results+=("$(printf '%-44s %s' "$1" "$2")"); }
count() { grep -c -- "$2" "$1" || true; }
run() {  # name, seconds, command...: output in $work/<name>.out, stdin closed (samples getchar())
  local name=$1 secs=$2
  shift 2
  timeout "$secs" "$@" </dev/null >"$work/$name.out" 2>&1 || true
}

for transport in mqtt amqp; do
  # The device waits for 3 messages; the service sample sends 5 (one a second) and then waits
  # for a key.
  timeout 90 "$bins/c2d-$transport" </dev/null >"$work/c2d-$transport.out" 2>&1 &
  device=$!
  for _ in $(seq 1 100); do
    grep -q "Waiting for message" "$work/c2d-$transport.out" 2>/dev/null && break
    sleep 0.1
  done
  # The service sample's "press a key" comes once the device has its 3 and has exited.
  (while kill -0 "$device" 2>/dev/null; do sleep 0.1; done; echo) |
    timeout 120 "$bins/messaging" >"$work/messaging-$transport.out" 2>&1 || true
  wait "$device" || true
  sent=$(count "$work/messaging-$transport.out" "Message has been sent successfully")
  got=$(count "$work/c2d-$transport.out" "Received \(Binary\|String\) [Mm]essage")
  record "service C2D send (AMQP, SASL PLAIN)" "$([[ $sent == 5 ]] && echo pass || echo FAIL) ($sent/5 sent)"
  record "device C2D receive over ${transport^^}" "$([[ $got -ge 3 ]] && echo pass || echo FAIL) ($got/3 received)"
  # (The device completed 3; the other 2 stay queued and reach the next round's device first.)
done

# libcurl clients (device HTTPS, registry manager) trust the system bundle only: the CA joins
# it in a private mount namespace.
bundle=$work/bundle.crt
cat /etc/ssl/certs/ca-certificates.crt "$CA" >"$bundle"
with_bundle=(unshare --mount sh -c
  'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' "$bundle")
for transport in mqtt amqp http; do
  if [[ $transport == http ]]; then
    run "telemetry-$transport" 60 "${with_bundle[@]}" "$bins/telemetry-$transport"
  else
    run "telemetry-$transport" 60 "$bins/telemetry-$transport"
  fi
  ok=$(count "$work/telemetry-$transport.out" "IOTHUB_CLIENT_CONFIRMATION_OK")
  record "device telemetry over ${transport^^}" "$([[ $ok == 5 ]] && echo pass || echo FAIL) ($ok/5 confirmed)"
done

# X.509 devices: the sample sends 5 messages and waits for their confirmations.
for device in x509-self x509-ca; do
  for transport in mqtt amqp; do
    run "$device-$transport" 60 "$bins/$device-$transport"
    ok=$(count "$work/$device-$transport.out" "with result IOTHUB_CLIENT_CONFIRMATION_OK")
    record "X.509 ($device) telemetry over ${transport^^}" \
      "$([[ $ok == 5 ]] && echo pass || echo FAIL) ($ok/5 confirmed)"
  done
done

run registrymanager 60 "${with_bundle[@]}" "$bins/registrymanager"
for step in CreateDevice UpdateDevice GetDevice DeleteDevice GetStatistics; do
  if grep -q "IoTHubRegistryManager_$step: \(Device has been\|Successfully\)" "$work/registrymanager.out"; then
    record "registry manager $step (HTTPS, libcurl)" pass
  else
    record "registry manager $step (HTTPS, libcurl)" FAIL
  fi
done

echo
echo "C SDK $(cat "$SDK/version.txt" 2>/dev/null || echo '?') against iothub-emulator:"
printf '  %s\n' "${results[@]}"
rm -rf "$BUILD/last-run" && cp -a "$work" "$BUILD/last-run"
echo "c-sdk: the samples' and the emulator's output are in $BUILD/last-run"
if printf '%s\n' "${results[@]}" | grep -q FAIL; then exit 1; fi

#!/usr/bin/env bash
# Conformance of the Azure IoT Python device SDK (azure-iot-device, run from source with
# Debian's paho-mqtt and friends) with the emulator: C2D, telemetry, SAS token renewal, twins
# and direct methods, over MQTT and MQTT over WebSockets, with the connection string the
# emulator prints and its CA. Prints a pass/fail table. Not part of the test suite: CI reaches
# only package registries (PyPI is not one of them here), and the SDK comes from its public
# source repository.
#
#   tests/sdk/python-sdk.sh [SDK_DIR]
#
# SDK_DIR (or $AZURE_IOT_SDK_PYTHON_DIR): a checkout of the public Azure/azure-iot-sdk-python
# repository (tested with 2.14.0, its last v2 release line). Without one the script says so and
# exits 0 ("skipped"). Needs root: the emulator listens on its default ports (the SDK always
# dials 8883, and 443 for WebSockets and the REST calls). $EMU_BINARY picks the emulator.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SDK=${1:-${AZURE_IOT_SDK_PYTHON_DIR:-}}
if [[ -z "$SDK" || ! -d "$SDK/azure-iot-device/azure/iot/device" ]]; then
  echo "python-sdk: skipped: no Python SDK checkout (pass its directory or set AZURE_IOT_SDK_PYTHON_DIR;"
  echo "            clone the public Azure/azure-iot-sdk-python repository)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "python-sdk: skipped: needs root (ports 443/5671/8883)"
  exit 0
fi
NAME=python-sdk
source "$ROOT/tests/sdk/sdk_common.sh"
install_missing python3-paho-mqtt python3-requests python3-requests-unixsocket \
  python3-deprecation python3-typing-extensions python3-socks python3-janus python3-urllib3 \
  python3-qpid-proton
build_emulator
start_emulator

version=$(sed -n 's/^VERSION = "\(.*\)"/\1/p' "$SDK/azure-iot-device/azure/iot/device/constant.py")
echo "Python device SDK ${version:-?} against iothub-emulator:"
# Debian's interpreter: the SDK's dependencies are Debian packages, not pip's.
rc=0
PYTHONPATH="$SDK/azure-iot-device" /usr/bin/python3 "$ROOT/tests/sdk/python_sdk_check.py" \
  "$work/ready.json" || rc=$?
if ((rc)); then
  echo "python-sdk: emulator log:"
  tail -40 "$work/emulator.log"
fi
exit $rc

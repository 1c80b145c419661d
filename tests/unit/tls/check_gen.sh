#!/usr/bin/env bash
# CTest certs_gen_script: runs certs/gen.sh into a temporary directory and checks each output
# with `openssl verify`, as a TLS client would judge it.
# Usage: check_gen.sh <path to certs/gen.sh>
set -euo pipefail

gen="${1:?usage: check_gen.sh <path to certs/gen.sh>}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

# expect_ok <description> <openssl verify args...>
expect_ok() {
  local what="$1"; shift
  local out
  if out="$(openssl verify "$@" 2>&1)"; then pass "$what"; else fail "$what: $out"; fi
}

# expect_fail <description> <expected text> <openssl verify args...>
expect_fail() {
  local what="$1" text="$2"; shift 2
  local out
  if out="$(openssl verify "$@" 2>&1)"; then
    fail "$what: verification unexpectedly succeeded"
  elif [[ "$out" != *"$text"* ]]; then
    fail "$what: expected '$text' in: $out"
  else
    pass "$what"
  fi
}

check_set() { # dir key-algorithm
  local d="$1" alg="$2"
  for f in ca server expired wrong-host untrusted-ca untrusted-server; do
    [[ -s "$d/$f.crt" && -s "$d/$f.key" ]] || fail "$d/$f.crt or .key missing"
    local mode
    mode="$(stat -c %a "$d/$f.key")"
    [[ "$mode" == 600 ]] && pass "$f.key is 0600" || fail "$f.key has mode $mode, expected 600"
  done
  openssl pkey -in "$d/server.key" -noout -text 2>/dev/null | grep -q "$alg" &&
    pass "server.key is $alg" || fail "server.key is not $alg"

  expect_ok "server verifies for localhost" -CAfile "$d/ca.crt" -purpose sslserver \
    -verify_hostname localhost "$d/server.crt"
  expect_ok "server verifies for iothub-emulator" -CAfile "$d/ca.crt" \
    -verify_hostname iothub-emulator "$d/server.crt"
  expect_ok "server verifies for 127.0.0.1" -CAfile "$d/ca.crt" -verify_ip 127.0.0.1 "$d/server.crt"
  expect_ok "server verifies for ::1" -CAfile "$d/ca.crt" -verify_ip ::1 "$d/server.crt"
  expect_fail "expired is refused" "certificate has expired" -CAfile "$d/ca.crt" "$d/expired.crt"
  expect_ok "wrong-host chains to the CA (only its name is wrong)" -CAfile "$d/ca.crt" \
    "$d/wrong-host.crt"
  expect_fail "wrong-host fails the host check" "hostname mismatch" -CAfile "$d/ca.crt" \
    -verify_hostname localhost "$d/wrong-host.crt"
  expect_fail "untrusted server fails against the main CA" "unable to get local issuer" \
    -CAfile "$d/ca.crt" "$d/untrusted-server.crt"
  expect_ok "untrusted server verifies against its own CA" -CAfile "$d/untrusted-ca.crt" \
    -verify_hostname localhost "$d/untrusted-server.crt"

  local a b
  a="$(openssl x509 -in "$d/server.crt" -noout -pubkey)"
  b="$(openssl pkey -in "$d/server.key" -pubout)"
  [[ "$a" == "$b" ]] && pass "server.key matches server.crt" || fail "server.key does not match"
}

echo "--- ECDSA, extra names"
out="$(bash "$gen" "$tmp/ec" extra.example 10.1.2.3)" || { echo "$out"; fail "gen.sh failed"; exit 1; }
grep -q "DEVELOPMENT AND TEST CERTIFICATES ONLY" <<<"$out" && pass "warning printed" ||
  fail "no development-only warning in the output"
check_set "$tmp/ec" "ASN1 OID: prime256v1"
expect_ok "extra DNS name" -CAfile "$tmp/ec/ca.crt" -verify_hostname extra.example "$tmp/ec/server.crt"
expect_ok "extra IP" -CAfile "$tmp/ec/ca.crt" -verify_ip 10.1.2.3 "$tmp/ec/server.crt"
expect_fail "unlisted name" "hostname mismatch" -CAfile "$tmp/ec/ca.crt" \
  -verify_hostname other.example "$tmp/ec/server.crt"

echo "--- re-run keeps the CA"
before="$(openssl x509 -in "$tmp/ec/ca.crt" -noout -fingerprint -sha256)"
bash "$gen" "$tmp/ec" more.example >/dev/null || fail "gen.sh re-run failed"
after="$(openssl x509 -in "$tmp/ec/ca.crt" -noout -fingerprint -sha256)"
[[ "$before" == "$after" ]] && pass "CA reused on re-run" || fail "CA changed on re-run"
expect_ok "re-issued server has the new name" -CAfile "$tmp/ec/ca.crt" \
  -verify_hostname more.example "$tmp/ec/server.crt"

echo "--- RSA"
bash "$gen" --rsa -o "$tmp/rsa" >/dev/null || fail "gen.sh --rsa failed"
check_set "$tmp/rsa" "Private-Key: (2048 bit"

echo "--- X.509 device certificates"
bash "$gen" --device dev-1 --verification-code ABC123 -o "$tmp/dev" >/dev/null ||
  fail "gen.sh --device failed"
expect_ok "CA-signed device certificate chains to the device CA" -CAfile "$tmp/dev/device-ca.crt" \
  "$tmp/dev/devices/dev-1.crt"
expect_ok "verification certificate chains to the device CA" -CAfile "$tmp/dev/device-ca.crt" \
  "$tmp/dev/verification.crt"
expect_ok "self-signed device certificate verifies against itself" \
  -CAfile "$tmp/dev/devices/dev-1-self.crt" -partial_chain "$tmp/dev/devices/dev-1-self.crt"
[[ "$(openssl x509 -in "$tmp/dev/devices/dev-1.crt" -noout -subject)" == "subject=CN = dev-1" ]] &&
  pass "device certificate CN is the device id" || fail "device certificate CN is not dev-1"
[[ "$(openssl x509 -in "$tmp/dev/verification.crt" -noout -subject)" == "subject=CN = ABC123" ]] &&
  pass "verification certificate CN is the code" || fail "verification CN is not the code"
[[ "$(stat -c %a "$tmp/dev/devices/dev-1.key")" == 600 ]] && pass "device key is 0600" ||
  fail "device key is not 0600"
before="$(openssl x509 -in "$tmp/dev/device-ca.crt" -noout -fingerprint -sha256)"
bash "$gen" --device dev-2 -o "$tmp/dev" >/dev/null || fail "gen.sh --device re-run failed"
after="$(openssl x509 -in "$tmp/dev/device-ca.crt" -noout -fingerprint -sha256)"
[[ "$before" == "$after" ]] && pass "device CA reused on re-run" || fail "device CA changed"
if bash "$gen" --device 'a/b' -o "$tmp/dev" >/dev/null 2>&1; then
  fail "accepted a device id with '/'"; else pass "rejects a device id with '/'"; fi

echo "--- bad arguments"
if bash "$gen" "$tmp/bad" 'evil,DNS:x' >/dev/null 2>&1; then fail "accepted a bad host name"; else
  pass "rejects a bad host name"; fi

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"

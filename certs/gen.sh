#!/usr/bin/env bash
# certs/gen.sh: development CA, server certificate and negative-test certificates for the
# IoT Hub emulator, made with the openssl CLI (OpenSSL 3.0 or later).
#
#   !!! DEVELOPMENT AND TESTS ONLY. Private keys are written UNENCRYPTED. !!!
#
# The emulator does not need this script: on first start it creates its own CA and server
# certificate in its data directory. Use this when you want the files somewhere else (compose
# volumes, CI fixtures) or need certificates that must FAIL verification (tests).
#
# Usage: certs/gen.sh [--rsa] [--new-ca] [--device ID]... [--verification-code CODE]
#                     [-o DIR | DIR] [NAME...]
#   DIR       output directory (default: certs/out next to this script)
#   NAME...   extra host names or IP addresses for the server certificate's SANs
#   --rsa     RSA-2048 keys instead of ECDSA P-256
#   --new-ca  replace an existing ca.crt/ca.key in DIR (default: reuse it, so certificates that
#             clients already trust stay valid when you re-run with new names)
#   --device ID   X.509 device certificates for device ID (README "Identities"): a self-signed
#             one (register its thumbprint, authentication type selfSigned) and one signed by
#             the device CA (type certificateAuthority; subject CN = ID). Repeat for more.
#   --verification-code CODE   the proof of possession for the device CA: a certificate with
#             subject CN = CODE (from POST /certificates/{name}/generateVerificationCode),
#             signed by device-ca.key, for POST /certificates/{name}/verify
#
# Output (see certs/README.md):
#   ca.crt ca.key                          development CA (trust ca.crt in clients)
#   server.crt server.key                  SANs: localhost, iothub-emulator, 127.0.0.1, ::1, NAME...
#   expired.crt expired.key                signed by the CA, validity entirely in the past
#   wrong-host.crt wrong-host.key          signed by the CA, SAN only DNS:wrong.example
#   untrusted-ca.crt untrusted-ca.key      a second, unrelated CA
#   untrusted-server.crt untrusted-server.key  normal SANs, signed by the untrusted CA
#   device-ca.crt device-ca.key            with --device/--verification-code: the CA that signs
#                                          device certificates (register it on the hub; reused)
#   devices/ID-self.crt devices/ID-self.key   --device ID: self-signed, CN=ID (thumbprints printed)
#   devices/ID.crt devices/ID.key          --device ID: signed by device-ca, CN=ID
#   verification.crt verification.key      --verification-code CODE: CN=CODE, signed by device-ca
set -euo pipefail

readonly script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly organisation="iothub-emulator (development only)"
readonly ca_days=3650
readonly server_days=825

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

warn_banner() {
  cat <<'EOF'
##########################################################################################
##  DEVELOPMENT AND TEST CERTIFICATES ONLY. The private keys are NOT encrypted.          ##
##  Never use them for anything reachable from a network you do not fully control.      ##
##########################################################################################
EOF
}

key_type=ec
new_ca=0
out=""
names=()
devices=()
verification_code=""
while (($#)); do
  case "$1" in
    --rsa) key_type=rsa ;;
    --device)
      [[ $# -ge 2 ]] || { echo "gen.sh: $1 needs a device id" >&2; exit 2; }
      devices+=("$2")
      shift
      ;;
    --verification-code)
      [[ $# -ge 2 ]] || { echo "gen.sh: $1 needs the code" >&2; exit 2; }
      verification_code="$2"
      shift
      ;;
    --new-ca) new_ca=1 ;;
    -o | --out)
      [[ $# -ge 2 ]] || { echo "gen.sh: $1 needs a directory" >&2; exit 2; }
      out="$2"
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    --) shift; names+=("$@"); break ;;
    -*) echo "gen.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if [[ -z "$out" ]]; then out="$1"; else names+=("$1"); fi
      ;;
  esac
  shift
done
out="${out:-$script_dir/out}"

command -v openssl >/dev/null || { echo "gen.sh: openssl not found" >&2; exit 1; }

# Host names end up in an openssl config file, so only allow what a host name or IP literal
# can contain (this also keeps ',' and newlines from injecting extensions).
is_ip() { [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || "$1" == *:* ]]; }
for n in "${names[@]}"; do
  if [[ ! "$n" =~ ^[A-Za-z0-9._:-]+$ ]]; then
    echo "gen.sh: '$n' is not a host name or IP address" >&2
    exit 2
  fi
done

# Device ids go into certificate subjects: allow the registry's id characters except those the
# openssl -subj syntax gives a meaning ('/', '+', '=', ',' and the backslash).
for d in "${devices[@]}"; do
  if [[ ! "$d" =~ ^[A-Za-z0-9._%#*?!@:\;\$\(\)\'-]{1,128}$ ]]; then
    echo "gen.sh: '$d' cannot be used as a device certificate's CN here" >&2
    exit 2
  fi
done
if [[ -n "$verification_code" && ! "$verification_code" =~ ^[A-Za-z0-9]{1,64}$ ]]; then
  echo "gen.sh: '$verification_code' is not a verification code" >&2
  exit 2
fi

# SAN list: defaults first, then the extra names, without duplicates.
san_entries=()
add_san() {
  local entry
  if is_ip "$1"; then entry="IP:$1"; else entry="DNS:${1,,}"; fi
  local e
  for e in "${san_entries[@]}"; do [[ "$e" == "$entry" ]] && return 0; done
  san_entries+=("$entry")
}
for n in localhost iothub-emulator 127.0.0.1 ::1 "${names[@]}"; do add_san "$n"; done
server_sans="$(IFS=,; echo "${san_entries[*]}")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
mkdir -p "$stage" "$out"
out="$(cd "$out" && pwd)"
log="$work/openssl.log"

# Runs an openssl command quietly; shows its output only when it fails.
run() {
  if ! "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "gen.sh: failed: $*" >&2
    exit 1
  fi
}

genkey() {
  rm -f "$1"
  # umask 077: the key file is created 0600, never readable by others even briefly.
  if [[ "$key_type" == rsa ]]; then
    (umask 077 && run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1")
  else
    (umask 077 && run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
  fi
}

key_usage="critical,digitalSignature"
[[ "$key_type" == rsa ]] && key_usage="critical,digitalSignature,keyEncipherment"

cat >"$work/req.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF

# Writes the extension section for a server certificate with the given SAN list.
server_ext() {
  cat >"$work/ext-$1.cnf" <<EOF
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = $key_usage
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $2
EOF
  echo "$work/ext-$1.cnf"
}

make_ca() { # name common-name
  genkey "$stage/$1.key"
  run openssl req -new -x509 -config "$work/req.cnf" -extensions v3_ca -key "$stage/$1.key" \
    -sha256 -days "$ca_days" -subj "/O=$organisation/CN=$2" -out "$stage/$1.crt"
}

make_csr() { # name common-name
  genkey "$stage/$1.key"
  run openssl req -new -config "$work/req.cnf" -key "$stage/$1.key" -sha256 \
    -subj "/O=$organisation/CN=$2" -out "$work/$1.csr"
}

sign() { # name ca-cert ca-key sans
  local ext
  ext="$(server_ext "$1" "$4")"
  run openssl x509 -req -in "$work/$1.csr" -CA "$2" -CAkey "$3" -set_serial "0x$(openssl rand -hex 16)" \
    -sha256 -days "$server_days" -extfile "$ext" -extensions server_ext -out "$stage/$1.crt"
}

warn_banner

# ---- Development CA: reuse unless asked not to, so clients that trust it keep working ----
if [[ $new_ca -eq 0 && -f "$out/ca.crt" && -f "$out/ca.key" ]] &&
  openssl x509 -in "$out/ca.crt" -noout -checkend 86400 >/dev/null 2>&1 &&
  [[ "$(openssl x509 -in "$out/ca.crt" -noout -pubkey 2>/dev/null)" == \
    "$(openssl pkey -in "$out/ca.key" -pubout 2>/dev/null)" ]]; then
  echo "Reusing the existing development CA in $out (use --new-ca to replace it)."
  cp -p "$out/ca.crt" "$out/ca.key" "$stage/"
else
  make_ca ca "iothub-emulator development CA"
fi
ca_crt="$stage/ca.crt"
ca_key="$stage/ca.key"

# ---- Server certificate ----
make_csr server localhost
sign server "$ca_crt" "$ca_key" "$server_sans"

# ---- Negative-test material ----
# Expired: `openssl x509 -req` (3.0) cannot set explicit dates, `openssl ca` can.
make_csr expired localhost
ext="$(server_ext expired "$server_sans")"
mkdir -p "$work/ca-db"
: >"$work/ca-db/index.txt"
openssl rand -hex 16 >"$work/ca-db/serial"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = dev_ca
[dev_ca]
database = $work/ca-db/index.txt
new_certs_dir = $work/ca-db
serial = $work/ca-db/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
organizationName = optional
commonName = supplied
EOF
run openssl ca -batch -notext -config "$work/ca.cnf" -cert "$ca_crt" -keyfile "$ca_key" \
  -in "$work/expired.csr" -startdate 20200101000000Z -enddate 20200201000000Z \
  -extfile "$ext" -extensions server_ext -out "$stage/expired.crt"

# Wrong host: a valid chain, but the only SAN is wrong.example.
make_csr wrong-host wrong.example
sign wrong-host "$ca_crt" "$ca_key" "DNS:wrong.example"

# Untrusted: right names, but signed by a CA nobody trusts.
make_ca untrusted-ca "iothub-emulator UNTRUSTED test CA"
make_csr untrusted-server localhost
sign untrusted-server "$stage/untrusted-ca.crt" "$stage/untrusted-ca.key" "$server_sans"

# ---- X.509 device material (issue 16) ----
cat >"$work/client-ext.cnf" <<EOF
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = $key_usage
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
EOF
if ((${#devices[@]})) || [[ -n "$verification_code" ]]; then
  if [[ -f "$out/device-ca.crt" && -f "$out/device-ca.key" ]] &&
    openssl x509 -in "$out/device-ca.crt" -noout -checkend 86400 >/dev/null 2>&1; then
    cp -p "$out/device-ca.crt" "$out/device-ca.key" "$stage/"
  else
    make_ca device-ca "iothub-emulator development device CA"
  fi
  mkdir -p "$stage/devices"
  for d in "${devices[@]}"; do
    genkey "$stage/devices/$d-self.key"
    run openssl req -new -x509 -config "$work/req.cnf" -key "$stage/devices/$d-self.key" -sha256 \
      -days "$server_days" -subj "/CN=$d" -addext "extendedKeyUsage=clientAuth" \
      -out "$stage/devices/$d-self.crt"
    genkey "$stage/devices/$d.key"
    run openssl req -new -config "$work/req.cnf" -key "$stage/devices/$d.key" -sha256 \
      -subj "/CN=$d" -out "$work/device.csr"
    run openssl x509 -req -in "$work/device.csr" -CA "$stage/device-ca.crt" \
      -CAkey "$stage/device-ca.key" -set_serial "0x$(openssl rand -hex 16)" -sha256 \
      -days "$server_days" -extfile "$work/client-ext.cnf" -extensions client_ext \
      -out "$stage/devices/$d.crt"
  done
  if [[ -n "$verification_code" ]]; then
    genkey "$stage/verification.key"
    run openssl req -new -config "$work/req.cnf" -key "$stage/verification.key" -sha256 \
      -subj "/CN=$verification_code" -out "$work/verification.csr"
    run openssl x509 -req -in "$work/verification.csr" -CA "$stage/device-ca.crt" \
      -CAkey "$stage/device-ca.key" -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 30 \
      -out "$stage/verification.crt"
  fi
fi

# Everything was built in a scratch directory; move it into place only now, so a failure
# above leaves the previous set intact. mv keeps the 0600 mode of the keys.
for f in "$stage"/*; do
  if [[ -d "$f" ]]; then
    mkdir -p "$out/devices"
    for g in "$f"/*; do [[ -e "$g" ]] && mv -f "$g" "$out/devices/"; done
  else
    mv -f "$f" "$out/"
  fi
done

describe() {
  local f="$out/$1"
  echo
  echo "== $1 ($2)"
  openssl x509 -in "$f" -noout -subject -issuer -startdate -enddate -fingerprint -sha256 |
    sed 's/^/   /'
  if openssl x509 -in "$f" -noout -ext subjectAltName 2>/dev/null | grep -q .; then
    openssl x509 -in "$f" -noout -ext subjectAltName | sed -n '2,$p' | sed 's/^ */   SAN: /'
  fi
}

echo
echo "Wrote $([[ $key_type == rsa ]] && echo RSA-2048 || echo 'ECDSA P-256') material to $out:"
describe ca.crt "development CA: trust this in clients"
describe server.crt "server certificate: serve with server.key"
describe expired.crt "NEGATIVE TEST: expired"
describe wrong-host.crt "NEGATIVE TEST: SAN only wrong.example"
describe untrusted-ca.crt "NEGATIVE TEST: unrelated CA"
describe untrusted-server.crt "NEGATIVE TEST: signed by the unrelated CA"
thumbprints() {
  local f="$out/$1"
  echo "   thumbprint SHA-1:   $(openssl x509 -in "$f" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')"
  echo "   thumbprint SHA-256: $(openssl x509 -in "$f" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')"
}
if ((${#devices[@]})) || [[ -n "$verification_code" ]]; then
  describe device-ca.crt "device CA: PUT it to /certificates/{name}, then prove possession"
  for d in "${devices[@]}"; do
    describe "devices/$d-self.crt" "device '$d', self-signed: authentication type selfSigned"
    thumbprints "devices/$d-self.crt"
    describe "devices/$d.crt" "device '$d', signed by the device CA: type certificateAuthority"
  done
  if [[ -n "$verification_code" ]]; then
    describe verification.crt "proof of possession: POST it to /certificates/{name}/verify"
  fi
fi
echo
echo "Trust the CA, e.g.: NODE_EXTRA_CA_CERTS=$out/ca.crt  or  SSL_CERT_FILE=$out/ca.crt"
echo
warn_banner

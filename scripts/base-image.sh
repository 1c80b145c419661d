#!/usr/bin/env bash
# Makes sure the container base image (Dockerfile ARG BASE_IMAGE, default debian:12.12-slim)
# is in the local Docker engine: present already, or pulled from a registry, or, when no
# registry is reachable, made here with debootstrap (variant minbase, the same Debian 12 release)
# from the Debian mirror this machine's apt already uses, then `docker import`ed under that tag.
#   scripts/base-image.sh [IMAGE]
set -euo pipefail
image=${1:-${BASE_IMAGE:-debian:12.12-slim}}
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base-image: $image is present"
  exit 0
fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
  echo "base-image: pulled $image"
  exit 0
fi
echo "base-image: $image cannot be pulled; making it with debootstrap from this machine's apt mirror"
# The mirror apt uses here (deb822 sources first, then the one-line format).
mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
  | grep -v security | head -n1 || true)
if [[ -z $mirror ]]; then
  mirror=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security \
    | head -n1 || true)
fi
[[ -n $mirror ]] || { echo "base-image: no Debian mirror found in apt's sources" >&2; exit 1; }
security=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
  grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') | grep security | head -n1 || true)
security=${security:-${mirror%/debian}/debian-security}
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed" >&2; exit 1; }
root=$(mktemp -d /tmp/base-image.XXXXXX)
chmod 755 "$root"  # it becomes the image's /: mktemp made it 0700
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# As Debian's own images: the security and updates suites, no caches, no documentation left.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
# As Debian's own slim images: apt keeps no downloaded packages or caches in a layer, dpkg
# installs no documentation, manuals or translations.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$image" >/dev/null
echo "base-image: made $image ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"

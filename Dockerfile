# iothub-emulator container image: the emulator plus the C++ sample clients of the tutorial
# (simulated-device, send-c2d, read-telemetry), on Debian 12.
#
#   scripts/base-image.sh                       # the base image, also where no registry is reachable
#   docker build -t iothub-emulator:local .
#   docker run --rm -p 127.0.0.1:8883:8883 -p 127.0.0.1:5671:5671 -p 127.0.0.1:443:443 \
#     -v iothub-data:/data iothub-emulator:local
#
# The emulator listens on 0.0.0.0 inside the container, keeps its SQLite database and its
# generated development CA + server certificate in the /data volume (clients trust
# /data/certs/ca.crt), and answers to iothub-emulator.internal (printed in its connection
# strings), iothub-emulator, localhost and 127.0.0.1. It runs as uid 10001: a bind-mounted
# data directory must be writable by that uid (README "With docker-compose"). The keys are the
# well-known development keys from the README: development only.

# One pinned base for both stages (a Debian 12 point release). scripts/base-image.sh pulls it,
# or makes it with debootstrap from the machine's Debian mirror where no registry is reachable.
ARG BASE_IMAGE=debian:12.12-slim

# ---- build stage: compilers and -dev packages ---------------------------------------------------
FROM ${BASE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The project's own list of build dependencies (installs only what is missing, as root here).
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh run && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_TESTS=OFF \
 && cmake --build /build --target iothub-emulator simulated-device send-c2d read-telemetry \
 && mkdir -p /out/bin \
 && cp /build/emulator/app/iothub-emulator /build/clients/simulated-device /build/clients/send-c2d \
       /build/clients/read-telemetry /out/bin/ \
 && strip /out/bin/*
# The runtime packages are the ones that own the shared libraries the binaries load, so this list
# follows the build dependencies without a second hand-kept list.
RUN for b in /out/bin/*; do ldd "$b" | awk '/=> \//{print $3}'; done | sort -u \
  | while read -r lib; do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" \
        || { echo "no Debian package owns $lib" >&2; exit 1; }; \
    done | cut -d: -f1 | sort -u > /out/runtime-packages.txt \
 && cat /out/runtime-packages.txt

# ---- runtime stage: only the shared libraries ---------------------------------------------------
FROM ${BASE_IMAGE}
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
# wget: the healthcheck's HTTPS client (smaller than curl).
RUN apt-get update \
 && xargs apt-get install -y --no-install-recommends wget < /tmp/runtime-packages.txt \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
      /tmp/runtime-packages.txt
RUN groupadd --system --gid 10001 iothub \
 && useradd --system --uid 10001 --gid iothub --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin iothub \
 && mkdir -p /data /run/iothub-emulator \
 && chown iothub:iothub /data /run/iothub-emulator
COPY --from=build /out/bin/ /usr/local/bin/
USER iothub
VOLUME /data
# MQTT over TLS (devices), AMQP over TLS (back-ends, devices), HTTPS on 443 (registry REST,
# /health, /metrics, MQTT/AMQP over WebSocket). The emulator runs as a non-root user: binding 443
# relies on Docker's default net.ipv4.ip_unprivileged_port_start=0 inside containers (Docker
# 20.10+; compose.yaml sets it explicitly); it is asked for explicitly, so a refusal is exit
# code 5, not a silent move to another port.
EXPOSE 8883 5671 443
# Healthy means the hub answers: GET /health goes through a hub round (a hung hub or store
# answers 503), over TLS with the CA the emulator made in /data.
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 \
  CMD wget -q -O /dev/null --ca-certificate=/data/certs/ca.crt https://localhost:443/health || exit 1
ENTRYPOINT ["/bin/sh", "-c", "rm -f /run/iothub-emulator/ready.json && exec iothub-emulator \"$@\"", "iothub-emulator"]
# The dashboard is served remotely: a browser on the host reaches the container through the
# bridge, not its loopback; it signs in with the iothubowner connection string (README
# "Dashboard"), and the container never shows keys to it.
# The printed HostName has a dot (the C SDK needs one, README "Host names"): compose gives the
# container that network alias; the service name and the loopback names stay aliases.
CMD ["--bind", "0.0.0.0", "--data-dir", "/data", "--https-port", "443", "--dashboard-remote", \
     "--host-name", "iothub-emulator.internal", \
     "--host-alias", "iothub-emulator", "--host-alias", "localhost", "--host-alias", "127.0.0.1", \
     "--ready-file", "/run/iothub-emulator/ready.json"]

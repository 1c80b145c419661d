# iothub-emulator container image: the emulator plus the tutorial's C++ sample clients
# (simulated-device, send-c2d), on Debian 12.
#
#   docker build -t iothub-emulator:local .
#   docker run --rm -p 127.0.0.1:8883:8883 -p 127.0.0.1:5671:5671 -v iothub-data:/data iothub-emulator:local
#
# The emulator listens on 0.0.0.0 inside the container, keeps its SQLite database and its
# generated development CA + server certificate in the /data volume (clients trust
# /data/certs/ca.crt), and answers to the host name "iothub-emulator" (the compose service
# name; the certificate also covers localhost and 127.0.0.1). The keys are the well-known
# development keys from the README: development only.

# ---- build stage: compilers and -dev packages ---------------------------------------------------
FROM debian:12 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The project's own list of build dependencies (installs only what is missing, as root here).
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh run && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMU_BUILD_TESTS=OFF \
 && cmake --build /build --target iothub-emulator simulated-device send-c2d \
 && mkdir -p /out/bin \
 && cp /build/emulator/app/iothub-emulator /build/clients/simulated-device /build/clients/send-c2d \
       /out/bin/ \
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
FROM debian:12-slim
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && xargs apt-get install -y --no-install-recommends < /tmp/runtime-packages.txt \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
RUN groupadd --system --gid 10001 iothub \
 && useradd --system --uid 10001 --gid iothub --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin iothub \
 && mkdir -p /data /run/iothub-emulator \
 && chown iothub:iothub /data /run/iothub-emulator
COPY --from=build /out/bin/ /usr/local/bin/
USER iothub
VOLUME /data
# MQTT over TLS (devices) and AMQP over TLS (back-ends); HTTPS (registry REST, /health) on 443.
# The emulator runs as a non-root user: binding 443 relies on Docker's default
# net.ipv4.ip_unprivileged_port_start=0 inside containers (Docker 20.10+; compose.yaml sets it
# explicitly), or pass --https-port 8443.
EXPOSE 8883 5671 443
# The emulator writes the ready file once every listener is bound; the entrypoint removes a
# stale one first, so a restarted container is not "healthy" before it is ready again.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD test -s /run/iothub-emulator/ready.json || exit 1
ENTRYPOINT ["/bin/sh", "-c", "rm -f /run/iothub-emulator/ready.json && exec iothub-emulator \"$@\"", "iothub-emulator"]
# The printed HostName has a dot (the C SDK needs one, README "Host names"): compose gives the
# container that network alias; the service name and the loopback names stay aliases.
CMD ["--bind", "0.0.0.0", "--data-dir", "/data", "--host-name", "iothub-emulator.internal", \
     "--host-alias", "iothub-emulator", "--host-alias", "localhost", "--host-alias", "127.0.0.1", \
     "--ready-file", "/run/iothub-emulator/ready.json"]

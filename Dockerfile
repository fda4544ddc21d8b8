# adam-server as a container image.
#
#   docker build -t adam-server .          # builds from source (stage "runtime", the default)
#   podman build --format docker -t adam-server .   # podman's OCI format would drop HEALTHCHECK
#
# The runtime holds only adam-server, the C runtime, OpenSSL's library (passkeys) and CA
# certificates, and runs as the unprivileged user "adam". Configure it with the environment (README: Configuration); never bake
# SECRET_KEY into an image. Without DATABASE_URL it keeps SQLite and its generated key in the
# volume /var/lib/adam.
#
# scripts/container-test.sh builds the stage "prebuilt" instead, from a binary built on the host
# (no Rust toolchain image is needed there): a context directory holding only `adam-server`.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
# webauthn-rs (passkeys) links OpenSSL; jemalloc (the server's allocator) builds with make.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --profile production --locked -p adam-server \
    && install -m 0755 "${CARGO_TARGET_DIR:-target}/production/adam-server" /adam-server

FROM debian:bookworm-slim AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/adam --create-home adam
# Listening on every interface is right inside a container only; the default elsewhere is
# 127.0.0.1.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:///var/lib/adam/adam.db
WORKDIR /var/lib/adam
VOLUME ["/var/lib/adam"]
EXPOSE 8000
USER adam:adam
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/adam-server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/adam-server"]
CMD ["serve"]

FROM base AS prebuilt
COPY adam-server /usr/local/bin/adam-server

FROM base AS runtime
COPY --from=builder /adam-server /usr/local/bin/adam-server

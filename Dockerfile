# syntax=docker/dockerfile:1.7
# Kefu's one binary, `kefu`, on a distroless base: no shell, no package manager, non-root,
# nothing written to the image's filesystem at run time (the Helm chart mounts it read-only).
#
#   docker build -t kefu:dev .
#   docker run --rm -e KEFU__SERVER__LISTEN=0.0.0.0:50051 -p 50051:50051 \
#       --tmpfs /home/nonroot/data:uid=65532 kefu:dev      # the embedded default, SQLite
#
# Dependencies are compiled in their own layer (cargo-chef), rebuilt only when Cargo.toml or
# Cargo.lock change; editing the source rebuilds the last layer alone.

ARG RUST_VERSION=1.95.0
ARG CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CHEF_VERSION
RUN cargo install cargo-chef --locked --version ${CHEF_VERSION}
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --package kefu --bin kefu --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package kefu --bin kefu \
    && install -D -m 0755 target/release/kefu /out/kefu

# glibc and libgcc for the Rust binary; CA certificates for TLS to Redis, PostgreSQL and OTLP.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/kefu /usr/local/bin/kefu
# distroless's "nonroot": numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /home/nonroot
# 50051: all services in one process; 50061-50065: one service each (`--service <name>`).
EXPOSE 50051 50061 50062
ENTRYPOINT ["/usr/local/bin/kefu"]
CMD ["serve", "--service", "all"]

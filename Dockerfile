# syntax=docker/dockerfile:1
# Baton container image: `docker build -t baton .`
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below.

# --- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Only what the build reads: manifests, sources (READMEs are include_str!'d) and the
# migrations, which baton-postgres embeds at compile time. Add new inputs here.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY migrations migrations

# Cache the registry and target dir between builds; the binary is copied out of the
# cache mount in the same step so the next stage can see it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p baton-server --bin baton \
 && install -D -m 0755 target/release/baton /out/baton

# --- runtime -----------------------------------------------------------------
# Same Debian release as the builder (glibc). No libpq: the Postgres client is pure Rust.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 baton \
 && useradd --system --uid 10001 --gid baton --create-home --home-dir /home/baton \
        --shell /usr/sbin/nologin baton

COPY --from=builder /out/baton /usr/local/bin/baton

# Numeric so orchestrators can verify runAsNonRoot.
USER 10001:10001
WORKDIR /home/baton

# Inside a container, listen on all interfaces (the default outside is 127.0.0.1:8080). Not a
# loopback address: Baton then refuses to start unless BATON_JWT_SECRET turns authentication on.
ENV BATON_BIND=0.0.0.0:8080
EXPOSE 8080

# Baton handles SIGTERM itself (graceful shutdown), so it can run as PID 1.
ENTRYPOINT ["baton"]
CMD ["serve"]

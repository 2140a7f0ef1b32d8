# syntax=docker/dockerfile:1
# PyTake: a multi-stage build. The dependency layer is cached separately from the source.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config git && rm -rf /var/lib/apt/lists/*
# 1. Dependencies only: stub sources with the real manifests, so this layer changes only with Cargo.*.
COPY Cargo.toml Cargo.lock build.rs ./
COPY actors/Cargo.toml actors/Cargo.toml
COPY load-tests/Cargo.toml load-tests/Cargo.toml
RUN mkdir -p src actors/src load-tests/src \
 && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
 && echo '' > actors/src/lib.rs && echo 'fn main() {}' > load-tests/src/main.rs \
 && cargo build --release --locked -p pytake 2>/dev/null || true
# 2. The real sources.
COPY . .
ARG PYTAKE_GIT_COMMIT=unknown
ENV PYTAKE_GIT_COMMIT=${PYTAKE_GIT_COMMIT}
RUN touch src/main.rs src/lib.rs actors/src/lib.rs && cargo build --release --locked -p pytake

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pytake \
 && mkdir -p /data && chown pytake:pytake /data
COPY --from=build /src/target/release/pytake /usr/local/bin/pytake
USER pytake
WORKDIR /data
VOLUME ["/data"]
ENV PYTAKE__SERVER__LISTEN=0.0.0.0:8000 \
    PYTAKE__STORAGE__DATA_DIR=/data \
    PYTAKE__DATABASE__URL=sqlite:///data/pytake.db \
    PYTAKE__LOG__FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/health/live || exit 1
ENTRYPOINT ["pytake"]
CMD ["serve"]

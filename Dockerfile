# One image for every subcommand: `docker build -t llmrank .`, then e.g.
# `docker run --rm -e LLMRANK_DATABASE__URL=... llmrank seed`.

# --- build -------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# Dependencies first: this layer is rebuilt only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src examples \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > examples/bare.rs \
    && cargo build --release --locked --bin llmrank \
    && rm -rf src examples
COPY sql sql
COPY openapi.json ./
COPY examples examples
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin llmrank \
    && strip target/release/llmrank

# --- run ---------------------------------------------------------------------------------
FROM debian:bookworm-slim
# A font, so that `llmrank plot -o chart.png` can draw its labels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core=2.37-6 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin llmrank
COPY --from=builder /src/target/release/llmrank /usr/local/bin/llmrank
# No config file and no secret in the image: settings come from LLMRANK_* variables or a
# mounted file named by LLMRANK_CONFIG (the Helm chart mounts a ConfigMap).
ENV LLMRANK_SERVER__LISTEN=0.0.0.0:8080 \
    LLMRANK_LOG__FORMAT=json
USER 10001
EXPOSE 8080 9100
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD ["llmrank", "health"]
ENTRYPOINT ["llmrank"]
CMD ["serve"]

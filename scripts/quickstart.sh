#!/usr/bin/env bash
# The main job on a fresh machine: bring up PostgreSQL and Redis, build, create the schema,
# simulate with a fixed seed, and print the TTFT ranking.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
cargo build --release --quiet
bin=target/release/llmrank
$bin seed
$bin simulate --seed 42
$bin rank TTFT
cat <<'TXT'

Next:
  target/release/llmrank rank e2e_latency --by p99     # the tail, not the mean
  target/release/llmrank serve                         # the HTTP API on 127.0.0.1:8080
  curl -H 'X-API-KEY: GPA-prince-edusei-2024' localhost:8080/ranking/TTFT
TXT

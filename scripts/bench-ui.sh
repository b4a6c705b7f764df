#!/usr/bin/env bash
# The dashboard's first load in headless Chromium: bytes of HTML + JS + CSS, and the script
# time to a drawn 12-LLM ranking (median of 15 fresh loads, cache off) next to Chromium's floor
# for a page running one trivial script. Needs PostgreSQL, Redis and chromium (installed here
# when missing). Usage: scripts/bench-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
bash scripts/tools.sh
export PATH="$PWD/.tools/bin:$PATH"
cargo test --release --quiet --test it browser::bench_first_load -- --ignored --exact --nocapture 2>&1 \
  | grep -v '^\(running\|test result\|$\|\.\)'

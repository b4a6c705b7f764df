#!/usr/bin/env bash
# Screenshots of every view of the dashboard (ranking, trends, trade-off, runs, SLO, sweep,
# compare with a regression caught; dark; a phone)
# into docs/screenshots/ (or DIR), taken in headless Chromium against a real `serve` with a
# simulated database. The README shows them. Usage: scripts/screenshots.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-docs/screenshots}")
bash scripts/services.sh
bash scripts/tools.sh
export PATH="$PWD/.tools/bin:$PATH"
mkdir -p "$dir"
LLMRANK_SCREENSHOTS="$dir" cargo test --quiet --test it browser::screenshots_of_every_view -- --exact
ls -1 "$dir"/*.png

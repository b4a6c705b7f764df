#!/usr/bin/env bash
# The main job on a fresh machine: bring up PostgreSQL and Redis, build, create the schema,
# simulate with a fixed seed, and print the TTFT ranking.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
cargo build --release --quiet
bin=target/release/llmrank
$bin seed
# Spread over the last 24 hours, so `history` and windows have something to show.
$bin simulate --seed 42 --span 24h
$bin rank TTFT
cat <<'TXT'

Next:
  target/release/llmrank rank e2e_latency --by p99     # the tail, not the mean
  target/release/llmrank rank TTFT --window 6h          # the last hours only
  target/release/llmrank history TPS --llm "GPT-4o"     # hour by hour
  target/release/llmrank rank goodput --slo 'TTFT<=500ms,TPOT<=40ms'   # requests meeting an SLO
  target/release/llmrank simulate --sweep concurrency=1,2,4,8,16,32,64  # a load sweep, then:
  target/release/llmrank sweep TTFT --slo 'TTFT<=2s,TPOT<=25ms'         # knees and capacities
  target/release/llmrank compare --base 'window=12h,until=12h' --cand window=12h   # the last 12 h against
                                                        # the 12 before: ratio, 95% CI, verdict; exit 1 if worse
  target/release/llmrank regressions                    # every series, day by day (after days of data)
  target/release/llmrank import results.json            # a vLLM, LLMPerf, GuideLLM, GenAI-Perf/AIPerf,
                                                        # SGLang or inference-perf result file
  target/release/llmrank rank TTFT                      # after an import: the measured data only
  target/release/llmrank rank TTFT --source import,simulate   # both, named: one list, said so
  target/release/llmrank plot TTFT -o ttft.png          # the ranking as a chart (or .svg)
  target/release/llmrank serve                         # the HTTP API and dashboard on 127.0.0.1:8080
  curl -H 'X-API-KEY: GPA-prince-edusei-2024' localhost:8080/ranking/TTFT
  open http://127.0.0.1:8080/#key=GPA-prince-edusei-2024   # the dashboard, in a browser
TXT

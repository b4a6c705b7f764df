#!/usr/bin/env bash
# The API contract: Schemathesis (pinned 4.32.0, from PyPI) runs every check against a real
# `llmrank serve` on a scratch database, reads with a read key and POST /samples with a write
# key. Exits non-zero on any failure. Usage: scripts/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-50}
bash scripts/services.sh
venv=.tools/schemathesis
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis==4.32.0 openapi-spec-validator==0.7.2
fi
"$venv/bin/openapi-spec-validator" openapi.json
cargo build --quiet --bin llmrank
bin=target/debug/llmrank
port=${PORT:-18090}
db=llmrank_schemathesis
export LLMRANK_DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export LLMRANK_SERVER__API_KEYS=st-read-key-0123456789 LLMRANK_SERVER__WRITE_KEYS=st-write-key-0123456789
export LLMRANK_LOG__LEVEL=warn LLMRANK_SIMULATE__SAMPLES=50
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
$bin seed >/dev/null
$bin simulate --seed 42 --span 24h >/dev/null
$bin simulate --seed 42 --sweep concurrency=1,4,16 >/dev/null
$bin import tests/fixtures/import/records.csv tests/fixtures/import/vllm_append.jsonl >/dev/null
$bin serve --listen 127.0.0.1:$port & pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS '$db' WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
cfg=$(mktemp --suffix=.toml)
cat >"$cfg" <<TOML
headers = { X-API-KEY = "st-read-key-0123456789" }
generation.max-examples = $examples
[[operations]]
include-path = "/samples"
headers = { X-API-KEY = "st-write-key-0123456789" }
# A valid body under an Idempotency-Key used before with another body is refused with 422
# (draft-ietf-httpapi-idempotency-key-header, and the document says so). A sample time after
# now + 1 day is 400: a bound that moves with the clock, which a schema cannot state.
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]
[[operations]]
include-path-regex = "^/(plot/)?compare$"
# A side's items depend on each other (run= takes no window; until excludes to; each key once;
# a date must exist), which its pattern does not state: such a side is 400.
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404"]
[[operations]]
include-path-regex = "^/(ranking|history)/"
parameters = { metric = "TTFT" }
[[operations]]
include-path = "/plot/{kind}/{metric}"
parameters = { kind = "ranking", metric = "TTFT" }
[[operations]]
include-path-regex = "^/plot/(sweep|interactivity)/"
parameters = { metric = "TTFT" }
TOML
rc=0
"$venv/bin/schemathesis" --config-file "$cfg" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --request-timeout 20 --suppress-health-check=filter_too_much "${@:2}" || rc=$?
rm -f "$cfg"
exit $rc

#!/usr/bin/env bash
# Benchmarks (release build): job queue throughput and pickup latency, GET task status under
# load with wrk, the clean engine and the window runtime on one thread, then the end-to-end
# databus rate. Prints each figure with its target; copy
# them to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }
export BKDATA_TEST_PG="${BKDATA_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
cargo build -q --release -p bkdata-server -p bkdata-worker -p bkdata-tests --bins
BIN=./target/release

echo "== job queue"
$BIN/bkdata-bench queue --jobs "${BENCH_JOBS:-50000}"
$BIN/bkdata-bench latency --samples "${BENCH_SAMPLES:-2000}"

echo "== GET task status under load (wrk)"
export DATABASE_URL="$BKDATA_TEST_PG/bkdata_bench"
export BKDATA_LISTEN=127.0.0.1:18084 BKDATA_DATA_DIR="$PWD/data/bench" RUST_LOG=warn
psql "$BKDATA_TEST_PG/postgres" -qc 'DROP DATABASE IF EXISTS bkdata_bench WITH (FORCE)' >/dev/null
$BIN/bkdata-server migrate >/dev/null
SECRET=$($BIN/bkdata-server app create bench 2>/dev/null | sed -n 's/^bk_app_secret=//p')
AUTH="{\"bk_app_code\":\"bench\",\"bk_app_secret\":\"$SECRET\",\"bk_username\":\"bench\"}"
$BIN/bkdata-server serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://$BKDATA_LISTEN/healthz" >/dev/null && break; sleep 0.1; done
API="http://$BKDATA_LISTEN/api/v0/data_pipeline"
TASK=$(curl -sS -X POST "$API/tasks" -H "X-Bkapi-Authorization: $AUTH" -d '{"table_list_file":"t.txt","business_context":"bench"}' | jq -r .data.task_id)
# Warm up (connections, caches, the blocking thread pool), then three measured runs at each
# concurrency: 16 connections (about what 2 cores keep in flight) and 32 (queueing).
wrk -t2 -c32 -d5s -H "X-Bkapi-Authorization: $AUTH" "$API/tasks/$TASK" >/dev/null
for conns in ${WRK_CONNS:-16 32}; do
  for run in 1 2 3; do
    echo "-- $conns connections, run $run: wrk -t2 -c$conns -d${WRK_SECS:-10}s --latency GET $API/tasks/$TASK (server, Postgres and wrk share $(nproc) cores)"
    wrk -t2 -c"$conns" -d"${WRK_SECS:-10}s" --latency -H "X-Bkapi-Authorization: $AUTH" "$API/tasks/$TASK" \
      | grep -E "Requests/sec|Latency  |50%|90%|99%"
  done
done
echo "(target: >= 5000 req/s, p99 < 20 ms)"
kill $SERVER 2>/dev/null || true

echo "== clean engine, one thread"
cargo bench -q -p bkdata-databus --bench clean
echo "== window runtime (dataflow realtime node), one thread"
cargo bench -q -p bkdata-flow --bench window

echo "== end to end: HTTP ingest -> JetStream -> clean -> PostgreSQL"
$BIN/bkdata-bench e2e --secs "${E2E_SECS:-60}" --rate "${E2E_RATE:-200000}"

echo "== flow end to end: live events -> JetStream -> realtime node (seed 004 SQL) -> PostgreSQL"
$BIN/bkdata-bench flow --secs "${FLOW_SECS:-60}" --rate "${FLOW_RATE:-300000}"

echo "== the tutorial's motivation: the precomputed table against the raw one, 10 M raw rows"
$BIN/bkdata-bench query --rows "${QUERY_ROWS:-10000000}"

echo "== seed 002's schema workflow on a generated 200-table business schema"
$BIN/bkdata-bench training --tables "${TRAINING_TABLES:-200}" --rows "${TRAINING_ROWS:-200}"

echo "== alerts: events -> builder -> Postgres + Redis with 5,000 open alerts; then the same load to Prometheus Alertmanager"
command -v prometheus-alertmanager >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }
$BIN/bkdata-bench alerts --open 5000 --events "${ALERT_EVENTS:-200000}"
$BIN/bkdata-bench alertmanager --open 5000 --events "${ALERT_EVENTS:-200000}"

#!/usr/bin/env bash
# The demo: start the services, migrate, start bkdata-server and one bkdata-worker, create an
# app, create and execute a data pipeline task through the API, wait for the worker to finish
# it, print its status and where to look. Server and worker keep running in the background;
# `scripts/demo.sh stop` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=./data/demo
mkdir -p "$RUN"

stop() {
  for p in server worker; do
    if [ -f "$RUN/$p.pid" ]; then
      kill "$(cat "$RUN/$p.pid")" 2>/dev/null || true
      rm -f "$RUN/$p.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; echo "demo stopped"; exit 0; fi

scripts/services.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bkdata_demo}"
export BKDATA_LISTEN="${BKDATA_LISTEN:-127.0.0.1:8084}"
export BKDATA_DATA_DIR="${BKDATA_DATA_DIR:-$PWD/data/pipeline}"
export BKDATA_METRICS_INTERVAL_MS="${BKDATA_METRICS_INTERVAL_MS:-5000}"
BASE="http://$BKDATA_LISTEN"
API="$BASE/api/v0/data_pipeline"

echo "== building"
cargo build -q -p bkdata-server -p bkdata-worker
BIN=./target/debug
stop

echo "== migrating $DATABASE_URL"
$BIN/bkdata-server migrate
SECRET=$($BIN/bkdata-server app create demo --description "demo app" --reset-secret 2>/dev/null | sed -n 's/^bk_app_secret=//p')
AUTH="X-Bkapi-Authorization: {\"bk_app_code\":\"demo\",\"bk_app_secret\":\"$SECRET\",\"bk_username\":\"admin\"}"

echo "== starting bkdata-server on $BASE and one bkdata-worker (logs in $RUN/)"
nohup $BIN/bkdata-server serve >"$RUN/server.log" 2>&1 & echo $! >"$RUN/server.pid"
nohup $BIN/bkdata-worker >"$RUN/worker.log" 2>&1 & echo $! >"$RUN/worker.pid"
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/healthz" >/dev/null || { echo "server did not start; see $RUN/server.log"; tail -20 "$RUN/server.log"; exit 1; }

command -v jq >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }

echo "== POST $API/tasks"
CREATED=$(curl -sS -X POST "$API/tasks" -H "Content-Type: application/json" -H "$AUTH" -d '{
  "table_list_file": "tables.txt",
  "business_context": "高速公路服务区管理系统",
  "db_name": "highway_db",
  "enable_sql_validation": true,
  "enable_llm_repair": true,
  "modify_original_file": true,
  "enable_training_data_load": true
}')
echo "$CREATED"
TASK=$(echo "$CREATED" | jq -r .data.task_id)

echo "== POST $API/tasks/$TASK/execute"
curl -sS -X POST "$API/tasks/$TASK/execute" -H "Content-Type: application/json" -H "$AUTH" \
  -d '{"execution_mode": "complete", "force_execution": false, "clean_existing_files": true}'
echo

echo "== waiting for the worker"
STATUS=""
for _ in $(seq 1 300); do
  STATUS=$(curl -sS "$API/tasks/$TASK" -H "$AUTH" | jq -r .data.status)
  case "$STATUS" in completed|failed|partial_completed) break ;; esac
  sleep 0.2
done

echo "== GET $API/tasks/$TASK"
curl -sS "$API/tasks/$TASK" -H "$AUTH" | jq .
echo "== GET $API/tasks/$TASK/files"
curl -sS "$API/tasks/$TASK/files" -H "$AUTH" | jq -r '.data.files[] | "  \(.file_name) (\(.file_size) bytes)"'

cat <<MSG

Task $TASK finished with status: $STATUS
(The four steps are placeholders in this version; the real schema workflow comes with issue 6.)

Where to look (server and worker keep running; stop them with: scripts/demo.sh stop):
  export AUTH='$AUTH'
  curl -H "\$AUTH" $API/tasks/$TASK
  curl -H "\$AUTH" $API/tasks/$TASK/logs
  curl -H "\$AUTH" $API/monitor/status
  curl -H "\$AUTH" $BASE/openapi.json
  curl $BASE/metrics
  task folder: $BKDATA_DATA_DIR/$TASK/ (data_pipeline.log)
  server log: $RUN/server.log, worker log: $RUN/worker.log
MSG
[ "$STATUS" = "completed" ]

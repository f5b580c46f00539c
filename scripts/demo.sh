#!/usr/bin/env bash
# The demo: start the services, migrate, create the highway business database, start
# bkdata-server and one bkdata-worker, create an app, run seed 002's schema workflow through the
# API and search its training store, then a databus chain, a flow with the query API, and two
# alert events built into alerts; print where to look. Server and worker keep running in the background;
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
# The web console, served by bkdata-server at / (no browser needed to run it).
scripts/console.sh --no-browser
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bkdata_demo}"
export BKDATA_LISTEN="${BKDATA_LISTEN:-127.0.0.1:8084}"
export BKDATA_DATA_DIR="${BKDATA_DATA_DIR:-$PWD/data/pipeline}"
export BKDATA_METRICS_INTERVAL_MS="${BKDATA_METRICS_INTERVAL_MS:-5000}"
# Seed 002's business database (APP_DB_CONFIG) and the folder table lists are read from.
export BKDATA_APP_DB_URL="${BKDATA_APP_DB_URL:-postgres://postgres@127.0.0.1:5432/highway_db}"
export BKDATA_APP_DB_NAME="${BKDATA_APP_DB_NAME:-highway_db}"
export BKDATA_PIPELINE_INPUT_DIR="${BKDATA_PIPELINE_INPUT_DIR:-$PWD/data/inputs}"
BASE="http://$BKDATA_LISTEN"
API="$BASE/api/v0/data_pipeline"

echo "== building"
cargo build -q -p bkdata-server -p bkdata-worker
BIN=./target/debug
stop

echo "== migrating $DATABASE_URL"
$BIN/bkdata-server migrate
echo "== the demo business database (highway service areas) and its table list"
mkdir -p "$BKDATA_PIPELINE_INPUT_DIR"
$BIN/bkdata-server demo-db --url "$BKDATA_APP_DB_URL" --table-list "$BKDATA_PIPELINE_INPUT_DIR/tables.txt"
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
for _ in $(seq 1 600); do
  STATUS=$(curl -sS "$API/tasks/$TASK" -H "$AUTH" | jq -r .data.status)
  case "$STATUS" in completed|failed|partial_completed) break ;; esac
  sleep 0.2
done

echo "== GET $API/tasks/$TASK"
curl -sS "$API/tasks/$TASK" -H "$AUTH" | jq .
echo "== GET $API/tasks/$TASK/files"
curl -sS "$API/tasks/$TASK/files" -H "$AUTH" | jq -r '.data.files[] | "  \(.file_name) (\(.file_size) bytes)"'
PAIRS=$(curl -sS "$API/tasks/$TASK/files" -H "$AUTH" | jq -r '.data.files[] | select(.file_name | test("^qs_.*_pair.json$")) | .file_name')
echo "== the first generated question-SQL pairs ($PAIRS)"
curl -sS "$API/tasks/$TASK/files/download/$PAIRS" -H "$AUTH" | jq -c '.[:3][]'
echo "== GET $API/training_data?q=每个服务区名称对应的车辆数量&type=sql&limit=2"
curl -sS -G "$API/training_data" -H "$AUTH" --data-urlencode "q=每个服务区名称对应的车辆数量" -d type=sql -d limit=2 \
  | jq -c '.data.items[] | {score, question, content}'

echo
echo "== databus: raw data -> clean -> PostgreSQL storage -> tasks -> ingest 1,000 records"
NAME="demo_$(date +%s)"
RAW=$(curl -sS -X POST "$BASE/v3/access/rawdata/" -H "$AUTH" \
  -d "{\"bk_biz_id\": 2, \"raw_data_name\": \"$NAME\"}" | jq -r .data.raw_data_id)
CONF='{"extract": {"type": "fun", "method": "from_json", "label": "json", "next": {"type": "assign", "subtype": "assign_obj", "label": "fields", "assign": [
  {"key": "level", "assign_to": "level", "type": "string"}, {"key": "code", "assign_to": "code", "type": "int"}, {"key": "ts", "assign_to": "ts", "type": "long"}]}},
  "conf": {"time_field_name": "ts", "timestamp_len": 13, "timezone": 8, "output_field_name": "timestamp"}}'
jq -n --argjson raw "$RAW" --arg name "$NAME" --arg conf "$CONF" '{raw_data_id: $raw, result_table_name: $name, json_config: $conf,
  fields: [{field_name: "level", field_type: "string"}, {field_name: "code", field_type: "int"}, {field_name: "ts", field_type: "long"}]}' \
  | curl -sS -X POST "$BASE/v3/databus/cleans/" -H "$AUTH" -d @- | jq -c '{result, result_table_id: .data.result_table_id}'
RT="2_$NAME"
curl -sS -X POST "$BASE/v3/databus/data_storages/" -H "$AUTH" \
  -d "{\"result_table_id\": \"$RT\", \"storage_type\": \"postgresql\", \"expires\": \"7d\"}" | jq -c '{result, physical_table_name: .data.physical_table_name}'
curl -sS -X POST "$BASE/v3/databus/tasks/" -H "$AUTH" -d "{\"result_table_id\": \"$RT\"}" | jq -c '.data.storages | map_values(.status)'
NOW=$(($(date +%s) * 1000))
seq 1 1000 | awk -v now="$NOW" '{printf "{\"level\": \"%s\", \"code\": %d, \"ts\": %d}\n", ($1 % 10 ? "INFO" : "ERROR"), $1, now + $1}' \
  | curl -sS -X POST "$BASE/v3/databus/rawdatas/$RAW/ingest/" -H "$AUTH" --data-binary @- | jq -c '{result, records: .data.records}'
WRITTEN=0
for _ in $(seq 1 300); do
  WRITTEN=$(curl -sS "$BASE/v3/databus/tasks/$RT/" -H "$AUTH" | jq -r '.data.storages.postgresql.rows_written')
  [ "$WRITTEN" = "1000" ] && break
  sleep 0.2
done
echo "rows shipped to PostgreSQL: $WRITTEN"
curl -sS "$BASE/v3/databus/data_storages/?raw_data_id=$RAW" -H "$AUTH" | jq -c '.data[] | {result_table_id, storage_type, physical_table_name, status, status_display}'

echo
echo "== dataflow: a project, a flow counting levels per minute into PostgreSQL, started; then the query API"
PROJECT=$(curl -sS -X POST "$BASE/v3/meta/projects/" -H "$AUTH" \
  -d "{\"project_name\": \"$NAME\", \"bk_biz_id\": 2}" | jq -r .data.project_id)
jq -n --argjson p "$PROJECT" --arg rt "$RT" --arg name "$NAME" '{project_id: $p, flow_name: $name, nodes: [
  {id: 1, node_type: "stream_source", bk_biz_id: 2, name: "source", result_table_id: $rt, from_nodes: []},
  {id: 2, node_type: "realtime", bk_biz_id: 2, name: "levels", table_name: ($name + "_levels"), output_name: "levels per minute",
   window_type: "scroll", count_freq: 60, waiting_time: 0,
   sql: ("SELECT level, count(*) AS n FROM " + $rt + " GROUP BY level"), from_nodes: [{id: 1, from_result_table_ids: [$rt]}]},
  {id: 3, node_type: "postgresql_storage", bk_biz_id: 2, name: "pg", cluster: "default-postgresql", expires: 7,
   from_nodes: [{id: 2, from_result_table_ids: [("2_" + $name + "_levels")]}]}]}' > "$RUN/flow.json"
FLOW=$(curl -sS -X POST "$BASE/v3/dataflow/flow/flows/create/" -H "$AUTH" -d @"$RUN/flow.json" | jq -r .data.flow_id)
curl -sS -X POST "$BASE/v3/dataflow/flow/flows/$FLOW/start/" -H "$AUTH" -d '{"consuming_mode": "continue"}' | jq -c '{result, task_id: .data.task_id}'
DEPLOY=""
for _ in $(seq 1 300); do
  DEPLOY=$(curl -sS "$BASE/v3/dataflow/flow/flows/$FLOW/latest_deploy_data/" -H "$AUTH" | jq -r .data.status)
  case "$DEPLOY" in success|failure) break ;; esac
  sleep 0.2
done
echo "deploy: $DEPLOY"
# Two minutes of events; the second minute's last record closes the first minute's window.
seq 1 600 | awk -v now="$NOW" '{printf "{\"level\": \"%s\", \"code\": %d, \"ts\": %d}\n", ($1 % 10 ? "INFO" : "ERROR"), $1, now - now % 60000 + $1 * 200}' \
  | curl -sS -X POST "$BASE/v3/databus/rawdatas/$RAW/ingest/" -H "$AUTH" --data-binary @- | jq -c '{result, records: .data.records}'
Q="{\"sql\": \"SELECT level, n, dtEventTime FROM 2_${NAME}_levels ORDER BY level\"}"
FLOWROWS=0
for _ in $(seq 1 300); do
  FLOWROWS=$(curl -sS -X POST "$BASE/v3/dataquery/query/" -H "$AUTH" -d "$Q" | jq -r '.data.total_records // 0')
  [ "$FLOWROWS" -ge 2 ] && break
  sleep 0.2
done
curl -sS -X POST "$BASE/v3/dataquery/query/" -H "$AUTH" -d "$Q" | jq -c '{select_fields_order: .data.select_fields_order, list: .data.list}'
curl -sS "$BASE/v3/dataflow/flow/flows/$FLOW/graph/" -H "$AUTH" | jq -c '.data.nodes[1] | {status, runtime}'
curl -sS -X POST "$BASE/v3/dataflow/flow/flows/$FLOW/stop/" -H "$AUTH" -d '{}' >/dev/null
curl -sS -X DELETE "$BASE/v3/databus/tasks/$RT/" -H "$AUTH" >/dev/null

echo
echo "== alerts: two events for one host (the second more severe), built by the worker"
NOWS=$(date +%s)
curl -sS -X POST "$BASE/v3/alert/events/" -H "$AUTH" -d "{\"events\": [
  {\"event_id\": \"demo-$NOWS-1\", \"plugin_id\": \"demo\", \"alert_name\": \"CPU使用率过高\", \"severity\": 2, \"target_type\": \"HOST\", \"target\": \"10.0.0.1\", \"bk_biz_id\": 2, \"time\": $((NOWS - 60))},
  {\"event_id\": \"demo-$NOWS-2\", \"plugin_id\": \"demo\", \"alert_name\": \"CPU使用率过高\", \"severity\": 1, \"target_type\": \"HOST\", \"target\": \"10.0.0.1\", \"bk_biz_id\": 2, \"time\": $NOWS}]}" \
  | jq -c '{result, accepted: .data.accepted, rejected: .data.rejected}'
for _ in $(seq 1 100); do
  N=$(curl -sS "$BASE/v3/alert/alerts/?query=CPU&status=ABNORMAL,CLOSED" -H "$AUTH" | jq -r '.data.total')
  [ "$N" -ge 2 ] && break
  sleep 0.2
done
curl -sS "$BASE/v3/alert/alerts/?query=CPU&status=ABNORMAL,CLOSED&ordering=id" -H "$AUTH" \
  | jq -c '.data.alerts[] | {id, status, severity, begin_time}'

cat <<MSG

Task $TASK finished with status: $STATUS
(The schema workflow of seed 002 on the demo business database $BKDATA_APP_DB_URL.)

Where to look (server and worker keep running; stop them with: scripts/demo.sh stop):
  the web console: $BASE/  (sign in with app code demo, secret $SECRET, user admin)
  export AUTH='$AUTH'
  curl -H "\$AUTH" $API/tasks/$TASK
  curl -H "\$AUTH" $API/tasks/$TASK/logs
  curl -H "\$AUTH" $API/monitor/status
  curl -H "\$AUTH" $BASE/openapi.json
  curl $BASE/metrics
  curl -H "\$AUTH" $BASE/v3/databus/tasks/$RT/
  curl -H "\$AUTH" $BASE/v3/dataflow/flow/flows/$FLOW/graph/
  psql "\$DATABASE_URL" -c 'SELECT count(*) FROM mapleleaf_2.${NAME}_2'
  task folder: $BKDATA_DATA_DIR/$TASK/ (data_pipeline.log)
  server log: $RUN/server.log, worker log: $RUN/worker.log
MSG
[ "$STATUS" = "completed" ] && [ "$WRITTEN" = "1000" ] && [ "$DEPLOY" = "success" ] && [ "$FLOWROWS" -ge 2 ]

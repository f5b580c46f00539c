//! The OpenAPI 3 document, served at `/openapi.json`. One table lists every operation; a
//! test calls each of them to prove the router and the document agree.
use axum::Json;
use serde_json::{json, Map, Value};

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Query parameters: (name, type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// Request body schema name in `components.schemas`, if any.
    pub body: Option<&'static str>,
    pub status: u16,
    /// Answers a file, not JSON.
    pub binary: bool,
}

macro_rules! op {
    ($m:literal, $p:expr, $s:literal, $t:literal, q=$q:expr, b=$b:expr, st=$st:literal) => {
        Op {
            method: $m,
            path: $p,
            summary: $s,
            tag: $t,
            query: $q,
            body: $b,
            status: $st,
            binary: false,
        }
    };
}

pub const OPERATIONS: &[Op] = &[
    op!(
        "post",
        "/api/v0/data_pipeline/tasks",
        "Create a task",
        "tasks",
        q = &[],
        b = Some("CreateTaskRequest"),
        st = 201
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks",
        "List tasks",
        "tasks",
        q = &[
            ("limit", "integer", "1..1000, default 50"),
            (
                "status",
                "string",
                "pending | in_progress | partial_completed | completed | failed"
            )
        ],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks/{task_id}",
        "Task status with step_status and current_execution",
        "tasks",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "post",
        "/api/v0/data_pipeline/tasks/{task_id}/execute",
        "Execute the whole workflow or one step (queued for a worker)",
        "tasks",
        q = &[],
        b = Some("ExecuteRequest"),
        st = 202
    ),
    op!(
        "post",
        "/api/v0/data_pipeline/tasks/{task_id}/cancel",
        "Cancel the execution in progress",
        "tasks",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks/{task_id}/executions",
        "Executions of a task, newest first",
        "tasks",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks/{task_id}/logs",
        "Database logs of a task",
        "logs",
        q = &[
            ("limit", "integer", "1..1000, default 100"),
            ("level", "string", "DEBUG | INFO | WARNING | ERROR")
        ],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks/{task_id}/files",
        "Files of the task folder",
        "files",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "post",
        "/api/v0/data_pipeline/tasks/{task_id}/files/archive",
        "Create a zip or tar.gz of the task folder",
        "files",
        q = &[],
        b = Some("ArchiveRequest"),
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/tasks/{task_id}/files/integrity",
        "sha256 of each file, checked against what the steps recorded",
        "files",
        q = &[],
        b = None,
        st = 200
    ),
    Op {
        method: "get",
        path: "/api/v0/data_pipeline/tasks/{task_id}/files/download/{file_name}",
        summary: "Download a file",
        tag: "files",
        query: &[],
        body: None,
        status: 200,
        binary: true,
    },
    Op {
        method: "get",
        path: "/api/v0/data_pipeline/tasks/{task_id}/files/{file_name}",
        summary: "Download a file (short form)",
        tag: "files",
        query: &[],
        body: None,
        status: 200,
        binary: true,
    },
    op!(
        "post",
        "/api/v0/data_pipeline/files/cleanup",
        "Remove the folders of tasks older than days_to_keep",
        "files",
        q = &[],
        b = Some("CleanupRequest"),
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/monitor/status",
        "System status: CPU, memory, disk, task counts, health",
        "monitor",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/monitor/tasks/{task_id}",
        "Monitor of one task",
        "monitor",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/monitor/metrics/history",
        "Host samples taken by workers",
        "monitor",
        q = &[("minutes", "integer", "1..43200, default 60")],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/monitor/anomalies",
        "Long-running executions, failed steps, disk nearly full",
        "monitor",
        q = &[("hours", "integer", "1..2160, default 24")],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/stats",
        "Overall statistics",
        "monitor",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/training_data",
        "The caller's training items (DDL, documents, question-SQL pairs) closest to q, scored",
        "training",
        q = &[
            ("q", "string", "the text to search for (required)"),
            ("type", "string", "ddl | documentation | sql"),
            ("limit", "integer", "1..100, default 10"),
            ("db_name", "string", "one business database")
        ],
        b = None,
        st = 200
    ),
    op!(
        "post",
        "/api/v0/data_pipeline/tasks/{task_id}/upload-table-list",
        "Upload the task's table list (multipart `file` or the raw text), checked, into its folder",
        "training",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/api/v0/data_pipeline/databases",
        "Business databases a task may name (db_name), without secrets",
        "training",
        q = &[],
        b = None,
        st = 200
    ),
    op!("get", "/v3/databus/cleans/", "List cleans", "databus", q = &[("raw_data_id", "integer", "filter"), ("bk_biz_id", "integer", "filter")], b = None, st = 200),
    op!("post", "/v3/databus/cleans/", "Create a clean and its result table (bklog's body)", "databus", q = &[], b = Some("CleanRequest"), st = 200),
    op!("get", "/v3/databus/cleans/{pid}/", "One clean", "databus", q = &[], b = None, st = 200),
    op!("put", "/v3/databus/cleans/{pid}/", "Update a clean's json_config, fields, alias or description", "databus", q = &[], b = Some("CleanRequest"), st = 200),
    op!("delete", "/v3/databus/cleans/{pid}/", "Delete a clean and its result table", "databus", q = &[], b = None, st = 200),
    op!("get", "/v3/databus/result_tables/{rt}/", "A result table with its fields", "databus", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/cleans/{pid}/start/", "Start a clean: a worker consumes the raw data and produces the result table", "databus", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/cleans/{pid}/stop/", "Stop a clean", "databus", q = &[], b = None, st = 200),
    op!("get", "/v3/databus/cleans/list_errors/", "Recent bad records of a clean with their error", "databus", q = &[("processing_id", "string", "required"), ("limit", "integer", "1..1000, default 50")], b = None, st = 200),
    op!("get", "/v3/databus/result_tables/{rt}/tail/", "Latest rows of a result table", "databus", q = &[("limit", "integer", "1..1000, default 10")], b = None, st = 200),
    op!("get", "/v3/meta/result_tables/{rt}/", "A result table with its fields; related=storages adds its storages", "meta", q = &[("related", "string", "fields, storages (repeat or comma-separate)")], b = None, st = 200),
    op!("get", "/v3/meta/result_tables/", "Readable result tables", "meta", q = &[("bk_biz_id", "integer", "repeatable"), ("project_id", "integer", ""), ("result_table_ids", "string", "repeatable, comma or JSON list"), ("related", "string", "fields, storages"), ("related_filter", "string", "JSON {type: storages, attr_name: common_cluster.cluster_type, attr_value}"), ("page", "integer", ""), ("page_size", "integer", "1..5000")], b = None, st = 200),
    op!("get", "/v3/meta/result_tables/mine/", "The result tables the caller manages", "meta", q = &[], b = None, st = 200),
    op!("get", "/v3/meta/result_tables/{rt}/fields/", "A result table's fields", "meta", q = &[], b = None, st = 200),
    op!("get", "/v3/meta/result_tables/{rt}/storages/", "A result table's storages by type (cluster without secrets, connection_info and storage_config as JSON strings)", "meta", q = &[], b = None, st = 200),
    op!(
        "post",
        "/v3/databus/cleans/verify/",
        "BKData clean verify: run a json_config on a sample, per-node values and errors",
        "databus",
        q = &[],
        b = Some("VerifyRequest"),
        st = 200
    ),
    op!(
        "get",
        "/v3/databus/cleans/time_formats/",
        "Time formats a clean accepts",
        "databus",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "post",
        "/v4/databus/clean/debug/",
        "bklog's v4 clean debug: run rules on an input",
        "databus",
        q = &[],
        b = Some("V4DebugRequest"),
        st = 200
    ),
    op!("post", "/v3/access/rawdata/", "Register raw data (flat shape)", "rawdata", q = &[], b = Some("RawDataRequest"), st = 200),
    op!("get", "/v3/access/rawdata/", "List raw data", "rawdata", q = &[("bk_biz_id", "integer", "filter by business")], b = None, st = 200),
    op!("post", "/v3/access/deploy_plan/", "Register raw data (BKData access shape: access_raw_data)", "rawdata", q = &[], b = Some("RawDataRequest"), st = 200),
    op!("get", "/v3/access/rawdata/{id}/", "One raw data", "rawdata", q = &[], b = None, st = 200),
    op!("get", "/v3/access/deploy_plan/{id}/", "bklog's get_deploy_summary: the deploy plan (1500004 when absent)", "rawdata", q = &[], b = None, st = 200),
    op!("put", "/v3/access/deploy_plan/{id}/", "Update a raw data's deploy plan (not its name or biz)", "rawdata", q = &[], b = Some("RawDataRequest"), st = 200),
    op!("post", "/v3/access/collectorhub/{id}/stop/", "Stop the collector: ingest is refused until started", "rawdata", q = &[], b = None, st = 200),
    op!("post", "/v3/access/collectorhub/{id}/start/", "Start the collector again", "rawdata", q = &[], b = None, st = 200),
    op!("delete", "/v3/access/rawdata/{id}/", "Delete raw data", "rawdata", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/rawdatas/{id}/ingest/", "Ingest records: NDJSON or lines, or a JSON array; Content-Encoding gzip accepted; BKDATA_MAX_INGEST_BYTES / _RECORDS", "rawdata", q = &[], b = None, st = 200),
    op!("get", "/v3/databus/rawdatas/{id}/tail/", "Latest records of a raw data", "rawdata", q = &[("limit", "integer", "1..1000, default 10")], b = None, st = 200),
    op!("get", "/v3/databus/rawdatas/{id}/partitions/", "Partitions of a raw data's stream", "rawdata", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/rawdatas/{id}/set_partitions/", "Raise a raw data's partitions (and its cleans' tables'); new partitions' jobs start", "rawdata", q = &[], b = Some("SetPartitionsRequest"), st = 200),
    op!("get", "/v3/databus/result_tables/{rt}/partitions/", "Partitions of a result table's stream", "databus", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/result_tables/{rt}/set_partitions/", "Raise a clean's table's partitions (with its raw data's)", "databus", q = &[], b = Some("SetPartitionsRequest"), st = 200),
    op!("get", "/v3/databus/cleans/{pid}/partitions/", "Partitions of a clean (its table's)", "databus", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/cleans/{pid}/set_partitions/", "Raise a clean's partitions (its raw data's and table's)", "databus", q = &[], b = Some("SetPartitionsRequest"), st = 200),
    op!("get", "/v3/storekit/clusters/", "Storage clusters (secrets masked)", "storekit", q = &[], b = None, st = 200),
    op!("get", "/v3/storekit/result_tables/{rt}/schema_and_sql/", "Per storage: fields, config and a default query; storages and query order", "storekit", q = &[], b = None, st = 200),
    op!("get", "/v3/storekit/storage_cluster_configs/{name}/", "A cluster's config without secrets", "storekit", q = &[], b = None, st = 200),
    op!("get", "/v3/storekit/es/route/", "Elasticsearch statistics (_cat/…, _cluster/health|stats, _nodes/stats) of a cluster holding a readable table, as a JSON string", "storekit", q = &[("cluster_name", "string", "required"), ("uri", "string", "required")], b = None, st = 200),
    op!("get", "/v3/resourcecenter/clusters/query_digest/", "Resource groups: storage clusters or the worker fleet", "resourcecenter", q = &[("resource_type", "string", "storage, processing, schedule"), ("service_type", "string", ""), ("cluster_name", "string", "")], b = None, st = 200),
    op!("post", "/v3/resourcecenter/resource_sets/", "A resource set (bklog's ES cluster sync): creates the storage cluster", "resourcecenter", q = &[], b = None, st = 200),
    op!("patch", "/v3/resourcecenter/resource_sets/{id}/", "Update a resource set's cluster (secrets not sent are kept)", "resourcecenter", q = &[], b = None, st = 200),
    op!("post", "/v3/storekit/clusters/", "Register a storage cluster: postgresql, mysql, tspider, redis, es or queue", "storekit", q = &[], b = Some("ClusterRequest"), st = 200),
    op!("get", "/v3/storekit/clusters/{cluster_type}/", "Storage clusters of one type", "storekit", q = &[], b = None, st = 200),
    op!("get", "/v3/storekit/clusters/{cluster_type}/{name}/", "One storage cluster", "storekit", q = &[], b = None, st = 200),
    op!("put", "/v3/storekit/clusters/{cluster_type}/{name}/", "Update a cluster (secrets not sent are kept)", "storekit", q = &[], b = Some("ClusterRequest"), st = 200),
    op!("delete", "/v3/storekit/clusters/{cluster_type}/{name}/", "Delete a cluster (not the default)", "storekit", q = &[], b = None, st = 200),
    op!("get", "/v3/databus/data_storages/", "Data storages (bklog's get_config_db_list) with status and status_display", "storages", q = &[("raw_data_id", "integer", ""), ("bk_biz_id", "integer", ""), ("storage_type", "string", ""), ("result_table_id", "string", "")], b = None, st = 200),
    op!("post", "/v3/databus/data_storages/", "Bind a result table to a storage cluster; creates the physical table", "storages", q = &[], b = Some("DataStorageRequest"), st = 200),
    op!("get", "/v3/databus/data_storages/{rt}/", "The data storages of a result table", "storages", q = &[("storage_type", "string", "")], b = None, st = 200),
    op!("put", "/v3/databus/data_storages/{rt}/", "Change a data storage (fields, expires, cluster); new columns are added", "storages", q = &[], b = Some("DataStorageRequest"), st = 200),
    op!("delete", "/v3/databus/data_storages/{rt}/", "Unbind a data storage (the physical table is kept)", "storages", q = &[("storage_type", "string", "needed when the table has several")], b = None, st = 200),
    op!("post", "/v3/databus/tasks/", "Start tasks: kafka/queue = the clean, other types = shippers; all when storages is absent", "storages", q = &[], b = Some("TasksRequest"), st = 200),
    op!("get", "/v3/databus/tasks/{rt}/", "Tasks of a result table: status, counters and bus lag per storage", "storages", q = &[], b = None, st = 200),
    op!("delete", "/v3/databus/tasks/{rt}/", "Stop tasks (storages in the query or body picks some)", "storages", q = &[("storages", "string", "comma-separated")], b = None, st = 200),
    op!("get", "/v3/databus/tasks/{rt}/dead_letters/", "Rows a storage refused for good (newest first)", "storages", q = &[("storage_type", "string", ""), ("limit", "integer", "1..1000, default 100")], b = None, st = 200),
    op!("post", "/v3/alert/events/", "Ingest events ({events: [...]}): each bad one answered with its index and reason; the rest, less those already stored (duplicates), handed to the builders through the bus and built into alerts", "alert", q = &[], b = Some("AlertEvents"), st = 200),
    op!("get", "/v3/alert/alerts/", "Search alerts", "alert", q = &[("status", "string", "ABNORMAL,RECOVERED,CLOSED"), ("severity", "string", "1,2,3"), ("bk_biz_id", "string", "filter"), ("strategy_id", "integer", "filter"), ("start_time", "integer", "created at or after (epoch s)"), ("end_time", "integer", "created at or before (epoch s)"), ("query", "string", "text in the name or dimensions"), ("page", "integer", "from 1"), ("page_size", "integer", "1..500, default 20"), ("ordering", "string", "create_time, severity, latest_time, begin_time, id; - for descending")], b = None, st = 200),
    op!("get", "/v3/alert/alerts/{id}/", "One alert", "alert", q = &[], b = None, st = 200),
    op!("get", "/v3/alert/alerts/{id}/events/", "The events of an alert with what each did", "alert", q = &[("limit", "integer", "1..10000, default 1000")], b = None, st = 200),
    op!("get", "/v3/alert/alerts/{id}/logs/", "The alert's log: created, updated, closed, recovered, acknowledged", "alert", q = &[], b = None, st = 200),
    op!("post", "/v3/alert/alerts/{id}/close/", "Close an open alert ({message}); the operator is recorded", "alert", q = &[], b = Some("AlertAction"), st = 200),
    op!("post", "/v3/alert/alerts/{id}/ack/", "Acknowledge an alert ({message}); the operator is recorded", "alert", q = &[], b = Some("AlertAction"), st = 200),
    op!("get", "/v3/meta/projects/", "Projects of the calling app", "meta", q = &[], b = None, st = 200),
    op!("post", "/v3/meta/projects/", "Create a project (owner of dataflows); bk_biz_id: the biz whose tables it reads", "meta", q = &[], b = Some("ProjectRequest"), st = 200),
    op!("get", "/v3/meta/projects/{id}/", "One project", "meta", q = &[], b = None, st = 200),
    op!("get", "/v3/meta/projects/{id}/data/", "Result tables granted to a project", "meta", q = &[], b = None, st = 200),
    op!("post", "/v3/meta/projects/{id}/data/add/", "Grant a result table (of the calling app) to a project", "meta", q = &[], b = Some("ProjectDataRequest"), st = 200),
    op!("delete", "/v3/meta/projects/{id}/data/{rt}/", "Revoke a grant", "meta", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/", "Flows of the calling app", "dataflow", q = &[("project_id", "integer", "")], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/create/", "Create a flow from nodes (seed 004's body): checked as a whole, answers flow_id and node_ids", "dataflow", q = &[], b = Some("FlowRequest"), st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/", "One flow", "dataflow", q = &[], b = None, st = 200),
    op!("delete", "/v3/dataflow/flow/flows/{id}/", "Delete a flow that is not running (and its realtime result tables)", "dataflow", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/graph/", "Nodes with status and config, links, version", "dataflow", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/export/", "The flow as a create body", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/{id}/start/", "Start a flow ({consuming_mode: continue | from_tail | from_head}); answers task_id, the deploy", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/{id}/stop/", "Stop a flow; answers task_id", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/{id}/restart/", "Stop and start a running flow ({consuming_mode}); answers task_id", "dataflow", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/latest_deploy_data/", "The latest deploy: status, logs, progress (null before the first start)", "dataflow", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/deploy_data/", "Every deploy of the flow, newest first", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/{id}/create/", "Replace a stopped flow's nodes (checked as a whole)", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/{id}/nodes/", "Add a node (from_links or from_nodes); on a running flow it applies at restart", "dataflow", q = &[], b = None, st = 200),
    op!("patch", "/v3/dataflow/flow/flows/{id}/nodes/{nid}/", "Change part of a node's config; on a running flow it applies at restart (has_modify)", "dataflow", q = &[], b = None, st = 200),
    op!("delete", "/v3/dataflow/flow/flows/{id}/nodes/{nid}/", "Delete a node of a stopped flow (no node may read it)", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/databus/cleans/etl_template/", "The json_config bklog builds for an ETL type ({etl_config: bk_log_text|bk_log_json|bk_log_delimiter|bk_log_regexp, etl_params: {separator, separator_regexp, retain_original_text}, fields}) and the result table fields it makes", "databus", q = &[], b = None, st = 200),
    op!("get", "/v3/platform/overview/", "Workers with the jobs each holds, and the caller's cleans, shippers and flows with counters, bus lag and failures (the console's first page)", "platform", q = &[], b = None, st = 200),
    op!("post", "/v3/dataquery/query/", "Read-only SQL over result tables ({sql, prefer_storage}), run on their storage: list, select_fields_order, total_records, timetaken", "dataquery", q = &[], b = None, st = 200),
    op!("post", "/v3/queryengine/query_sync/", "The same query (bklog's and bk-monitor's root); prefer_storage es takes sql = {index, body} or {index, mapping: true}", "dataquery", q = &[], b = None, st = 200),
    op!("post", "/v3/dataflow/flow/flows/", "Create a flow (bk-monitor's path; the same as create/)", "dataflow", q = &[], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/monitor_data/", "Per node data_loss_io_total (input, output) and rt_status", "dataflow", q = &[("monitor_type", "string", "comma-separated")], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/nodes/{nid}/monitor_data/", "One node's monitor data", "dataflow", q = &[("monitor_type", "string", "comma-separated")], b = None, st = 200),
    op!("get", "/v3/dataflow/flow/flows/{id}/versions/draft/", "The graph with each node's status (add_node_running_info=1 adds counters)", "dataflow", q = &[("add_node_running_info", "integer", "1 adds running info")], b = None, st = 200),
    op!("post", "/v3/dataflow/tool/job/set_resource/", "Record the resources asked for a flow (nothing is reserved)", "dataflow", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/tokens/", "Create a data token scoped to result tables (answered once in plain text)", "auth", q = &[], b = None, st = 200),
    op!("get", "/v3/auth/tokens/", "The data tokens the caller's app created (masked)", "auth", q = &[], b = None, st = 200),
    op!("get", "/v3/auth/tokens/{id}/", "A data token (masked) and its permissions", "auth", q = &[], b = None, st = 200),
    op!("put", "/v3/auth/tokens/{id}/", "Add permissions to a data token", "auth", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/tokens/check/", "Whether a token grants an action on an object", "auth", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/projects/{id}/data/add/", "Grant a result table to a project (bklog's {bk_biz_id, object_id, project_id})", "auth", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/projects/{id}/data/check/", "Whether a project may read a result table", "auth", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/projects/{id}/cluster_group/", "Give a project a resource group (one fleet: answered, changes nothing)", "auth", q = &[], b = None, st = 200),
    op!("get", "/v3/auth/users/{user}/scopes/", "The objects the caller may act on for an action", "auth", q = &[("action_id", "string", "required")], b = None, st = 200),
    op!("post", "/v3/auth/users/{user}/check/", "Whether the caller may do action_id on object_id", "auth", q = &[], b = None, st = 200),
    op!("post", "/v3/auth/tickets/", "Ask for permissions (decided at once: granted when the caller could grant them)", "auth", q = &[], b = None, st = 200),
    op!(
        "get",
        "/openapi.json",
        "This document",
        "meta",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/healthz",
        "Liveness and database check (no credentials)",
        "meta",
        q = &[],
        b = None,
        st = 200
    ),
    op!(
        "get",
        "/metrics",
        "Prometheus metrics (no credentials)",
        "meta",
        q = &[],
        b = None,
        st = 200
    ),
];

fn schemas() -> Value {
    json!({
        "CreateTaskRequest": {"type": "object", "required": ["table_list_file", "business_context"], "properties": {
            "table_list_file": {"type": "string", "description": "relative path of the table list"},
            "business_context": {"type": "string"},
            "db_name": {"type": "string", "description": "business database; the default when absent"},
            "enable_sql_validation": {"type": "boolean", "default": true},
            "enable_llm_repair": {"type": "boolean", "default": true},
            "modify_original_file": {"type": "boolean", "default": true},
            "enable_training_data_load": {"type": "boolean", "default": true}}},
        "ExecuteRequest": {"type": "object", "properties": {
            "execution_mode": {"type": "string", "enum": ["complete", "step"], "default": "complete"},
            "step_name": {"type": "string", "enum": bkdata_api::pipeline::STEP_ORDER},
            "force_execution": {"type": "boolean", "default": false, "description": "skip the step dependency check"},
            "clean_existing_files": {"type": "boolean", "default": false}}},
        "ArchiveRequest": {"type": "object", "properties": {"archive_format": {"type": "string", "enum": ["zip", "tar.gz"], "default": "zip"}}},
        "CleanupRequest": {"type": "object", "properties": {"days_to_keep": {"type": "integer", "default": 30, "minimum": 0}}},
        "FlowRequest": {"type": "object", "required": ["project_id", "flow_name", "nodes"], "properties": {
            "project_id": {"type": "integer"}, "flow_name": {"type": "string"}, "description": {"type": "string"},
            "nodes": {"type": "array", "items": {"type": "object", "description": "id, node_type (stream_source, realtime, tspider_storage, mysql_storage, postgresql_storage, redis_storage, elastic_storage, queue_storage), name, bk_biz_id, from_nodes [{id, from_result_table_ids}], and the type's settings"}}}},
        "AlertEvents": {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": {"type": "object", "description": "bk-monitor's Event: event_id, plugin_id, strategy_id or alert_name, severity (1 fatal .. 3 remind), status, target_type, target, bk_biz_id, time (epoch s or RFC 3339), tags [{key, value}], dedupe_keys (extra keys such as tags.host), …"}}}},
        "AlertAction": {"type": "object", "properties": {"message": {"type": "string"}}},
        "ProjectRequest": {"type": "object", "required": ["project_name"], "properties": {
            "project_name": {"type": "string"}, "description": {"type": "string"}, "bk_biz_id": {"type": "integer"}}},
        "ProjectDataRequest": {"type": "object", "required": ["result_table_id"], "properties": {
            "result_table_id": {"type": "string"}, "bk_biz_id": {"type": "integer", "description": "checked against the table's biz when given"}}},
        "ClusterRequest": {"type": "object", "required": ["cluster_name", "cluster_type"], "properties": {
            "cluster_name": {"type": "string"}, "cluster_type": {"type": "string", "enum": ["postgresql", "mysql", "tspider", "redis", "es", "queue"]},
            "connection_info": {"type": "object", "description": "host, port, user, password, database…; secrets are never returned"},
            "description": {"type": "string"}}},
        "RawDataRequest": {"type": "object", "required": ["bk_biz_id"], "properties": {
            "bk_biz_id": {"type": "integer"}, "raw_data_name": {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9_]{0,49}$"},
            "raw_data_alias": {"type": "string"}, "data_encoding": {"type": "string", "enum": ["UTF-8"]},
            "data_scenario": {"type": "string"}, "description": {"type": "string"}, "maintainer": {"type": "string"},
            "storage_partitions": {"type": "integer", "minimum": 1, "maximum": 64, "description": "partitions of its stream, default 1"},
            "partition_key": {"type": "string", "description": "JSON field whose value picks a record's partition; absent: spread evenly"},
            "access_raw_data": {"type": "object", "description": "BKData access shape: the same fields, nested"}}},
        "SetPartitionsRequest": {"type": "object", "required": ["partitions"], "properties": {
            "partitions": {"type": "integer", "minimum": 1, "maximum": 64, "description": "only ever raised"}}},
        "CleanRequest": {"type": "object", "required": ["raw_data_id", "result_table_name", "json_config", "fields"], "properties": {
            "raw_data_id": {"type": "integer"}, "bk_biz_id": {"type": "integer"},
            "result_table_name": {"type": "string"}, "result_table_name_alias": {"type": "string"},
            "clean_config_name": {"type": "string"}, "description": {"type": "string"},
            "json_config": {"type": "string", "description": "BKData v3 json_config, as a JSON string"},
            "fields": {"type": "array", "items": {"type": "object", "properties": {
                "field_name": {"type": "string"}, "field_type": {"type": "string", "enum": ["int", "long", "double", "string", "text"]},
                "field_alias": {"type": "string"}, "is_dimension": {"type": "boolean"}, "field_index": {"type": "integer"}}}}}},
        "DataStorageRequest": {"type": "object", "required": ["storage_type"], "properties": {
            "result_table_id": {"type": "string"}, "bk_biz_id": {"type": "integer"},
            "result_table_name": {"type": "string", "description": "with bk_biz_id, instead of result_table_id (bklog)"},
            "raw_data_id": {"type": "integer"}, "data_type": {"type": "string"},
            "storage_type": {"type": "string", "enum": ["postgresql", "mysql", "tspider", "redis", "es", "queue"]},
            "storage_cluster": {"type": "string", "description": "cluster name; the default cluster of the type when absent"},
            "expires": {"type": "string", "example": "7d", "description": "Nd, Nw, Nm, Ny or -1 (never)"},
            "physical_table_name": {"type": "string", "description": "schema.table, database.table, key prefix or index (may hold {yyyyMMdd} and {table_id})"},
            "storage_config": {"type": "object", "description": "redis: key_fields"},
            "fields": {"type": "array", "items": {"type": "object", "properties": {
                "field_name": {"type": "string"}, "field_type": {"type": "string"}, "physical_field": {"type": "string"},
                "field_alias": {"type": "string"}, "is_dimension": {"type": "boolean"}, "field_index": {"type": "integer"}}}}}},
        "TasksRequest": {"type": "object", "required": ["result_table_id"], "properties": {
            "result_table_id": {"type": "string"},
            "storages": {"type": "array", "items": {"type": "string", "enum": ["kafka", "queue", "postgresql", "mysql", "tspider", "redis", "es"]}}}},
        "VerifyRequest": {"type": "object", "required": ["conf", "msg"], "properties": {
            "conf": {"description": "the json_config, as a JSON string (or an object)"},
            "msg": {"type": "string", "description": "one raw record"}}},
        "V4DebugRequest": {"type": "object", "required": ["input", "rules"], "properties": {
            "input": {"type": "string"},
            "rules": {"type": "array", "items": {"type": "object", "properties": {
                "input_id": {"type": "string"}, "output_id": {"type": "string"}, "operator": {"type": "object"}}}},
            "filter_rules": {"type": "array"}}},
        "BkEnvelope": {"type": "object", "required": ["result", "code"], "properties": {
            "result": {"type": "boolean"}, "data": {}, "code": {"type": "string", "example": "1500200"},
            "message": {"type": "string"}, "errors": {}}},
        "SuccessEnvelope": {"type": "object", "required": ["success", "data"], "properties": {
            "success": {"type": "boolean", "const": true}, "code": {"type": "integer"},
            "message": {"type": "string"}, "data": {}}},
        "ErrorEnvelope": {"type": "object", "required": ["success", "code", "message", "error_type", "details"], "properties": {
            "success": {"type": "boolean", "const": false}, "code": {"type": "integer"},
            "message": {"type": "string"},
            "error_type": {"type": "string", "enum": ["validation_error", "invalid_json", "dependency_error", "authentication_error", "not_found", "conflict", "payload_too_large", "service_unavailable", "internal_error"]},
            "details": {"type": "object"}}},
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(op.query.iter().map(|(n, ty, d)| {
            json!({"name": n, "in": "query", "required": false, "description": d, "schema": {"type": ty}})
        }));
        let bk = op.path.starts_with("/v3/") || op.path.starts_with("/v4/");
        let ok_content = if bk {
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/BkEnvelope"}}})
        } else if op.binary {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        } else {
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/SuccessEnvelope"}}})
        };
        let err_schema = if bk { "BkEnvelope" } else { "ErrorEnvelope" };
        let err = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{err_schema}")}}}});
        let mut responses = Map::new();
        responses.insert(
            op.status.to_string(),
            json!({"description": "success", "content": ok_content}),
        );
        let open = op.path == "/healthz" || op.path == "/metrics";
        if !open {
            for code in ["400", "401", "404", "409", "413", "500", "503"] {
                responses.insert(code.into(), err.clone());
            }
        }
        let mut o = json!({
            "summary": op.summary, "tags": [op.tag], "parameters": params, "responses": responses,
        });
        if let Some(b) = op.body {
            o["requestBody"] = json!({"required": b == "CreateTaskRequest", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        if open {
            o["security"] = json!([]);
        }
        paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap()
            .insert(op.method.into(), o);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "bkdata-rs API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "BKData-compatible data platform. Data pipeline task API (seed 002) under /api/v0/data_pipeline/; BKData v3/v4 endpoints under /v3/ and /v4/ (also reachable as /prod/v3/, /api/c/compapi/data/v3/, /api/bk-base/{env}/v3|v4/). Every call needs bk_app_code, bk_app_secret and bk_username (X-Bkapi-Authorization header JSON, or params)."},
        "servers": [{"url": "http://127.0.0.1:8084"}],
        "security": [{"bkapi": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bkapi": {"type": "apiKey", "in": "header", "name": "X-Bkapi-Authorization",
                "description": "JSON {\"bk_app_code\":…, \"bk_app_secret\":…, \"bk_username\":…}"}},
        },
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

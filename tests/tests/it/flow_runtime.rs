//! Flows running on real services: seed 004's tutorial end to end (its nodes as sent, start,
//! records ingested, per-5-minute maxima in MariaDB equal to the SQL by hand), stop and
//! start with each consuming mode, a chained realtime node, a worker killed mid-window, and
//! windows on a 3-node NATS cluster with one node stopped mid-stream.
use bkdata_tests::seed000::{maria, unique};
use bkdata_tests::seed004::*;
use bkdata_tests::*;
use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Wait for the flow's latest deploy to end (success or failure); answers it.
async fn finished_deploy(srv: &TestServer, flow: i64) -> Value {
    eventually(WAIT, "the deploy to finish", || async {
        let d = srv
            .bk_ok(
                Method::GET,
                &format!("/v3/dataflow/flow/flows/{flow}/latest_deploy_data/"),
                None,
            )
            .await;
        matches!(d["status"].as_str(), Some("success" | "failure")).then_some(d)
    })
    .await
}

/// Start the flow (or restart it) and wait for its deploy to succeed; answers the deploy.
async fn deploy(srv: &TestServer, flow: i64, action: &str, body: Value) -> Value {
    let t = srv
        .bk_ok(
            Method::POST,
            &format!("/v3/dataflow/flow/flows/{flow}/{action}/"),
            Some(body),
        )
        .await;
    let task = t["task_id"].as_i64().expect("task_id");
    let d = finished_deploy(srv, flow).await;
    assert_eq!(d["id"], task, "{d}");
    assert_eq!(d["status"], "success", "{d}");
    d
}

async fn flow_status(srv: &TestServer, flow: i64) -> String {
    srv.bk_ok(
        Method::GET,
        &format!("/v3/dataflow/flow/flows/{flow}/"),
        None,
    )
    .await["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_flow(srv: &TestServer, project: i64, nodes: Value) -> i64 {
    let v = srv
        .bk_ok(
            Method::POST,
            "/v3/dataflow/flow/flows/create/",
            Some(json!({"project_id": project, "flow_name": unique("flow"), "nodes": nodes})),
        )
        .await;
    v["flow_id"].as_i64().unwrap()
}

async fn ingest(srv: &TestServer, raw_id: i64, rows: &[Proc]) {
    for chunk in rows.chunks(5000) {
        let (st, v) = srv.ingest(raw_id, ndjson(chunk)).await;
        assert!(st == 200 && v["result"] == true, "{st} {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed004_tutorial_runs_end_to_end() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[]);
    let database = unique("bkflow_");
    let (project, raw_id) = prerequisites(&srv, &database).await;
    // The source table flows: its clean runs (bklog's tasks call).
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": "591_system_proc", "storages": ["kafka"]})),
    )
    .await;
    // The tutorial's two requests as it sends them: BK_DATA_URL ('…/prod/v3/') joined with
    // '/dataflow/…' (a doubled slash), credentials in the JSON body, no consuming_mode.
    let post = |path: String, body: Value| {
        let srv = &srv;
        async move {
            let r = srv
                .client
                .post(srv.url(&path))
                .header("Content-Type", "application/json; charset=utf-8")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                (v["result"].as_bool(), v["code"].as_str()),
                (Some(true), Some("1500200")),
                "{v}"
            );
            v["data"].clone()
        }
    };
    let creds = json!({"bk_app_code": srv.app_code, "bk_app_secret": srv.secret,
        "bkdata_authentication_method": "user", "bk_username": "admin"});
    let mut create = creds.clone();
    create["project_id"] = json!(project);
    create["flow_name"] = json!("data-test");
    create["nodes"] = tutorial_nodes();
    let created = post("/prod/v3//dataflow/flow/flows/create/".into(), create).await;
    let flow = created["flow_id"].as_i64().unwrap();
    assert_eq!(created["node_ids"].as_array().unwrap().len(), 3);
    assert_eq!(
        srv.bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/latest_deploy_data/"),
            None
        )
        .await,
        Value::Null,
        "no deploy before the first start"
    );
    let started = post(
        format!("/prod/v3//dataflow/flow/flows/{flow}/start/"),
        creds,
    )
    .await;
    let task = started["task_id"].as_i64().expect("task_id");
    let d = finished_deploy(&srv, flow).await;
    assert_eq!(
        (d["id"].as_i64(), d["status"].as_str()),
        (Some(task), Some("success")),
        "{d}"
    );
    assert_eq!(d["action"], "start");
    assert_eq!(d["context"]["consuming_mode"], "continue", "the default");
    assert!(d["logs"].as_array().unwrap().len() >= 3, "{d}");
    assert_eq!(flow_status(&srv, flow).await, "running");
    // The storage node made its table at start.
    let table = format!("{database}.system_proc_ip_grp_591");
    let pool = maria();
    let mut c = pool.get_conn().await.unwrap();
    let cols: Vec<String> = c
        .query(format!("SELECT column_name FROM information_schema.columns WHERE table_schema = '{database}' AND table_name = 'system_proc_ip_grp_591' ORDER BY ordinal_position"))
        .await
        .unwrap();
    assert_eq!(
        cols,
        [
            "mem",
            "cpu_usage_pct",
            "mem_usage_pct",
            "ip",
            "pid",
            "dtEventTime",
            "dtEventTimeStamp",
            "localTime"
        ]
    );

    // 20 simulated minutes, then one record a minute past the last window's end plus
    // waiting_time (60 s), which closes it.
    let rows = system_proc(T0, 20, 1);
    ingest(&srv, raw_id, &rows).await;
    let closer = Proc {
        time: T0 + 21 * 60_000 + 1,
        ip: "10.0.0.9".into(),
        pid: 1,
        cpu: 0.0,
        mem_pct: 0.0,
        mem_res: 0,
    };
    ingest(&srv, raw_id, std::slice::from_ref(&closer)).await;
    let want = maxima_by_hand(&rows);
    assert_eq!(want.len(), 4 * 6, "four windows of six processes");
    let got = eventually(WAIT, "the four windows in MariaDB", || async {
        let got = maria_maxima(&pool, &table).await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(got, want, "the stored maxima equal the SQL by hand");

    // The graph shows the realtime node's counters.
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    let rtn = &g["nodes"][1];
    assert_eq!(rtn["status"], "running", "{g}");
    assert_eq!(rtn["runtime"]["windows"], 4, "{g}");
    assert_eq!(rtn["runtime"]["rows_out"], 24, "{g}");
    assert_eq!(rtn["runtime"]["late_rows"], 0, "{g}");

    // A late record (its window was emitted) is counted, not stored.
    ingest(
        &srv,
        raw_id,
        &[Proc {
            time: T0 + 1000,
            ..closer.clone()
        }],
    )
    .await;
    eventually(WAIT, "the late record counted", || async {
        let g = srv
            .bk_ok(
                Method::GET,
                &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
                None,
            )
            .await;
        (g["nodes"][1]["runtime"]["late_rows"] == 1).then_some(())
    })
    .await;

    deploy(&srv, flow, "stop", json!({})).await;
    assert_eq!(flow_status(&srv, flow).await, "no-start");
    let deploys = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/deploy_data/"),
            None,
        )
        .await;
    let actions: Vec<&str> = deploys
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["stop", "start"]);
    assert_eq!(maria_maxima(&pool, &table).await, want);
    c.query_drop(format!("DROP DATABASE IF EXISTS {database}"))
        .await
        .unwrap();
    drop(_worker);
    srv.cleanup_bus().await;
}

/// A record of host `ip` at `minute` (+ `sec` seconds) with `mem_res` = `mem`.
fn at(minute: i64, sec: i64, mem: i64) -> Proc {
    Proc {
        time: T0 + minute * 60_000 + sec * 1000,
        ip: "10.0.0.1".into(),
        pid: 100,
        cpu: 1.0,
        mem_pct: 1.0,
        mem_res: mem,
    }
}

/// source → realtime (`sql`, window settings) → PostgreSQL storage on the default cluster.
fn pg_flow(table: &str, window: Value, sql: &str) -> Value {
    let mut rt = json!({"id": 2, "bk_biz_id": 591, "node_type": "realtime", "name": "rt",
        "table_name": table, "output_name": table, "sql": sql,
        "from_nodes": [{"id": 1, "from_result_table_ids": ["591_system_proc"]}]});
    for (k, v) in window.as_object().unwrap() {
        rt[k] = v.clone();
    }
    json!([
        {"id": 1, "bk_biz_id": 591, "node_type": "stream_source", "name": "src",
         "result_table_id": "591_system_proc", "from_nodes": []},
        rt,
        {"id": 3, "bk_biz_id": 591, "node_type": "postgresql_storage", "name": "pg",
         "cluster": "default-postgresql", "expires": 3,
         "from_nodes": [{"id": 2, "from_result_table_ids": [format!("591_{table}")]}]}
    ])
}

/// `(minutes from T0 of the window start, n, total)` rows of a storage table, sorted.
async fn windows_in_pg(srv: &TestServer, table: &str) -> Vec<(i64, i64, i64)> {
    let c = bkdata_tests::seed000::pg(srv).await;
    let rows = c
        .query(
            &format!("SELECT \"dtEventTimeStamp\", n, total FROM {table} ORDER BY 1, 2, 3"),
            &[],
        )
        .await
        .unwrap_or_default();
    rows.iter()
        .map(|r| ((r.get::<_, i64>(0) - T0) / 60_000, r.get(1), r.get(2)))
        .collect()
}

/// Wait until the source table's stream holds the record at `time` (the clean is
/// asynchronous; `from_tail` counts from what the stream holds).
async fn in_source(srv: &TestServer, time: i64) {
    eventually(WAIT, "the record in 591_system_proc", || async {
        let t = srv
            .bk_ok(
                Method::GET,
                "/v3/databus/result_tables/591_system_proc/tail/?limit=1",
                None,
            )
            .await;
        (t[0]["dtEventTimeStamp"] == time).then_some(())
    })
    .await;
}

async fn source_running(srv: &TestServer) {
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": "591_system_proc", "storages": ["kafka"]})),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_start_and_each_consuming_mode() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let (project, raw) = prerequisites(&srv, "unused").await;
    source_running(&srv).await;
    let sql = "SELECT count(*) AS n, sum(mem_res) AS total FROM 591_system_proc";
    let flow = create_flow(
        &srv,
        project,
        pg_flow(
            "per_minute",
            json!({"window_type": "scroll", "count_freq": 60, "waiting_time": 0}),
            sql,
        ),
    )
    .await;
    let table = "mapleleaf_591.per_minute_591";
    let until = |want: Vec<(i64, i64, i64)>, what: &'static str| {
        let srv = &srv;
        async move {
            eventually(WAIT, what, || {
                let want = want.clone();
                async move {
                    let got = windows_in_pg(srv, table).await;
                    (got.len() >= want.len()).then_some(got)
                }
            })
            .await
        }
    };

    // A first start reads what arrives from then on.
    deploy(&srv, flow, "start", json!({})).await;
    ingest(
        &srv,
        raw,
        &[
            at(0, 1, 1),
            at(0, 2, 2),
            at(0, 3, 3),
            at(1, 0, 10),
            at(1, 5, 20),
            at(2, 0, 100),
        ],
    )
    .await;
    let got = until(vec![(0, 3, 6), (1, 2, 30)], "minutes 0 and 1").await;
    assert_eq!(got, [(0, 3, 6), (1, 2, 30)]);

    // Stop, more data, start (continue): minute 2 holds rows from before and after the stop.
    deploy(&srv, flow, "stop", json!({})).await;
    ingest(&srv, raw, &[at(2, 30, 200), at(3, 0, 1000), at(4, 0, 5)]).await;
    deploy(&srv, flow, "start", json!({"consuming_mode": "continue"})).await;
    let got = until(vec![(0, 0, 0); 4], "minutes 2 and 3").await;
    assert_eq!(got, [(0, 3, 6), (1, 2, 30), (2, 2, 300), (3, 1, 1000)]);

    // Stop, data, start from_tail: what arrived while stopped is skipped, and minute 4's
    // open window with it.
    deploy(&srv, flow, "stop", json!({})).await;
    ingest(&srv, raw, &[at(5, 0, 7), at(6, 0, 8)]).await;
    in_source(&srv, at(6, 0, 8).time).await;
    deploy(&srv, flow, "start", json!({"consuming_mode": "from_tail"})).await;
    ingest(&srv, raw, &[at(7, 0, 50), at(8, 0, 60)]).await;
    let got = until(vec![(0, 0, 0); 5], "minute 7").await;
    assert_eq!(
        got,
        [(0, 3, 6), (1, 2, 30), (2, 2, 300), (3, 1, 1000), (7, 1, 50)],
        "minutes 4 to 6 skipped (windows are emitted in order)"
    );

    // Restart from_head: everything again from the first record, each window computed
    // afresh (so the ones stored before are there twice).
    deploy(
        &srv,
        flow,
        "restart",
        json!({"consuming_mode": "from_head"}),
    )
    .await;
    let got = until(vec![(0, 0, 0); 5 + 8], "every window again").await;
    assert_eq!(
        got,
        [
            (0, 3, 6),
            (0, 3, 6),
            (1, 2, 30),
            (1, 2, 30),
            (2, 2, 300),
            (2, 2, 300),
            (3, 1, 1000),
            (3, 1, 1000),
            (4, 1, 5),
            (5, 1, 7),
            (6, 1, 8),
            (7, 1, 50),
            (7, 1, 50)
        ]
    );
    assert_eq!(flow_status(&srv, flow).await, "running");
    let bad = srv
        .bk(
            Method::POST,
            &format!("/v3/dataflow/flow/flows/{flow}/start/"),
            Some(json!({"consuming_mode": "sideways"})),
        )
        .await
        .1;
    assert_eq!(bad["result"], false);
    assert!(
        bad["message"].as_str().unwrap().contains("consuming_mode"),
        "{bad}"
    );
    let running = srv
        .bk(
            Method::POST,
            &format!("/v3/dataflow/flow/flows/{flow}/start/"),
            Some(json!({})),
        )
        .await
        .1;
    assert!(
        running["message"]
            .as_str()
            .unwrap()
            .contains("running: use restart"),
        "{running}"
    );
    let del = srv
        .bk(
            Method::DELETE,
            &format!("/v3/dataflow/flow/flows/{flow}/"),
            None,
        )
        .await
        .1;
    assert!(
        del["message"].as_str().unwrap().contains("stop it"),
        "{del}"
    );
    drop(_worker);
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chained_realtime_node_feeds_a_sliding_window() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let (project, raw) = prerequisites(&srv, "unused").await;
    source_running(&srv).await;
    // A passes pid 100's rows on, doubled, with their own event time; B sums them over two
    // minutes, sliding every minute.
    let nodes = json!([
        {"id": 1, "bk_biz_id": 591, "node_type": "stream_source", "name": "src",
         "result_table_id": "591_system_proc", "from_nodes": []},
        {"id": 2, "bk_biz_id": 591, "node_type": "realtime", "name": "a", "table_name": "doubled",
         "output_name": "doubled", "window_type": "none",
         "sql": "SELECT ip, pid, mem_res * 2 AS m2, dtEventTimeStamp FROM 591_system_proc WHERE pid = 100",
         "from_nodes": [{"id": 1, "from_result_table_ids": ["591_system_proc"]}]},
        {"id": 3, "bk_biz_id": 591, "node_type": "realtime", "name": "b", "table_name": "two_minutes",
         "output_name": "two_minutes", "window_type": "slide", "count_freq": 60, "window_time": 2,
         "waiting_time": 0, "sql": "SELECT count(*) AS n, sum(m2) AS total FROM 591_doubled",
         "from_nodes": [{"id": 2, "from_result_table_ids": ["591_doubled"]}]},
        {"id": 4, "bk_biz_id": 591, "node_type": "postgresql_storage", "name": "pg",
         "cluster": "default-postgresql", "expires": 3,
         "from_nodes": [{"id": 3, "from_result_table_ids": ["591_two_minutes"]}]}
    ]);
    let flow = create_flow(&srv, project, nodes).await;
    deploy(&srv, flow, "start", json!({})).await;
    let mut rows = Vec::new();
    for k in 0..6 {
        rows.push(at(k, 0, k + 1));
        rows.push(Proc {
            pid: 200,
            ..at(k, 30, 1000)
        });
    }
    rows.push(at(8, 0, 0)); // closes every window ending by minute 8
    ingest(&srv, raw, &rows).await;
    let want = vec![
        (-1, 1, 2),
        (0, 2, 6),
        (1, 2, 10),
        (2, 2, 14),
        (3, 2, 18),
        (4, 2, 22),
        (5, 1, 12),
    ];
    let got = eventually(WAIT, "the sliding windows", || async {
        let got = windows_in_pg(&srv, "mapleleaf_591.two_minutes_591").await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(
        got, want,
        "(window start minute, rows, sum of doubled mem_res)"
    );
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    assert_eq!(g["nodes"][1]["runtime"]["rows_in"], 13, "{g}");
    assert_eq!(g["nodes"][1]["runtime"]["rows_out"], 7, "{g}");
    drop(_worker);
    srv.cleanup_bus().await;
}

/// The prerequisites and a started flow counting rows and summing `mem_res` per host and
/// minute into `mapleleaf_591.per_ip_591`; answers the raw data id.
async fn per_ip_flow(srv: &TestServer) -> i64 {
    per_ip_flow_over(srv, 1).await.0
}

/// [`per_ip_flow`] with the raw data (and so the flow's input) in `partitions` partitions;
/// answers the raw data id, the flow id and the start's deploy.
async fn per_ip_flow_over(srv: &TestServer, partitions: u32) -> (i64, i64, Value) {
    let (project, raw) = prerequisites(srv, "unused").await;
    if partitions > 1 {
        assert_eq!(set_partitions(srv, raw, partitions).await, partitions);
    }
    source_running(srv).await;
    let sql = "SELECT count(*) AS n, sum(mem_res) AS total, ip FROM 591_system_proc GROUP BY ip";
    let window = json!({"window_type": "scroll", "count_freq": 60, "waiting_time": 0});
    let flow = create_flow(srv, project, pg_flow("per_ip", window, sql)).await;
    (raw, flow, deploy(srv, flow, "start", json!({})).await)
}

/// Raise a raw data's partitions; answers the count the platform gives back.
async fn set_partitions(srv: &TestServer, raw: i64, n: u32) -> Value {
    srv.bk_ok(
        Method::POST,
        &format!("/v3/databus/rawdatas/{raw}/set_partitions/"),
        Some(json!({"partitions": n})),
    )
    .await
}

/// The rows of minute `m` after `T0` (ingested alone, they go to one partition, the next
/// request's to the next).
fn minute_of(rows: &[Proc], m: i64) -> Vec<Proc> {
    rows.iter()
        .filter(|r| (r.time - T0).div_euclid(60_000) == m)
        .cloned()
        .collect()
}

/// `(window start minute, ip) → (rows, sum of mem_res)` by hand.
fn per_minute_by_hand(rows: &[Proc]) -> BTreeMap<(i64, String), (i64, i64)> {
    let mut out: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
    for r in rows {
        let e = out
            .entry(((r.time - T0).div_euclid(60_000), r.ip.clone()))
            .or_default();
        e.0 += 1;
        e.1 += r.mem_res;
    }
    out
}

async fn per_minute_in_pg(srv: &TestServer, table: &str) -> BTreeMap<(i64, String), (i64, i64)> {
    let c = bkdata_tests::seed000::pg(srv).await;
    let rows = c
        .query(
            &format!("SELECT \"dtEventTimeStamp\", ip, n, total FROM {table}"),
            &[],
        )
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for r in rows {
        let key = ((r.get::<_, i64>(0) - T0) / 60_000, r.get::<_, String>(1));
        assert!(
            out.insert(key.clone(), (r.get(2), r.get(3))).is_none(),
            "window {key:?} stored twice"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_window_loses_and_doubles_nothing() {
    let srv = nats_server().await;
    let env = [
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_JOB_LEASE_MS", "1500"),
    ];
    let mut first = srv.worker(&env);
    let raw = per_ip_flow(&srv).await;
    let table = "mapleleaf_591.per_ip_591";
    let rows = system_proc(T0, 30, 7);
    let (early, late) = rows.split_at(rows.len() / 2);
    ingest(&srv, raw, early).await;
    // Some windows stored, the last minute's still open: kill.
    eventually(WAIT, "some windows stored", || async {
        (per_minute_in_pg(&srv, table).await.len() >= 5 * 3).then_some(())
    })
    .await;
    first.signal(libc::SIGKILL);
    let _ = first.child.wait();
    ingest(&srv, raw, late).await;
    let closer = at(31, 0, 0);
    ingest(&srv, raw, std::slice::from_ref(&closer)).await;
    let _second = srv.worker(&env);
    let want = per_minute_by_hand(&rows);
    assert_eq!(want.len(), 30 * 3);
    let got = eventually(
        Duration::from_secs(90),
        "every window after the restart",
        || async {
            let got = per_minute_in_pg(&srv, table).await;
            (got.len() >= want.len()).then_some(got)
        },
    )
    .await;
    assert_eq!(got, want, "each window once, with every row");
    drop(_second);
    srv.cleanup_bus().await;
}

/// A node over a 4-partition input runs as 4 tasks fed by 4 exchanges, spread over three
/// workers; one is killed mid-stream. Each minute goes to the next partition, so the
/// partitions' event times interleave: a window closes only when all of them have passed it.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_over_four_partitions_runs_in_tasks_and_a_killed_worker_loses_nothing() {
    let srv = nats_server().await;
    let env = [
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_JOB_LEASE_MS", "1500"),
        ("BKDATA_JOB_RETRY_BASE_MS", "100"),
    ];
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("w{i}-"))).collect();
    let mut workers: Vec<_> = ids
        .iter()
        .map(|id| srv.worker(&[env[0], env[1], env[2], ("BKDATA_WORKER_ID", id)]))
        .collect();
    let (raw, flow, d) = per_ip_flow_over(&srv, 4).await;
    assert!(
        d["logs"]
            .to_string()
            .contains("4 tasks over 4 input partitions"),
        "{d}"
    );
    let table = "mapleleaf_591.per_ip_591";
    let rows = system_proc(T0, 30, 11);
    for m in 0..15 {
        ingest(&srv, raw, &minute_of(&rows, m)).await;
    }
    eventually(WAIT, "some windows stored", || async {
        (per_minute_in_pg(&srv, table).await.len() >= 5 * 3).then_some(())
    })
    .await;
    // Kill the worker holding the most of the node's jobs.
    let c = bkdata_tests::seed000::pg(&srv).await;
    let busiest: String = c
        .query_one(
            "SELECT locked_by FROM background_jobs WHERE status = 'running' \
             AND job_type IN ('flow_run', 'flow_exchange') GROUP BY locked_by ORDER BY count(*) DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let i = ids
        .iter()
        .position(|w| *w == busiest)
        .expect("the busiest worker is one of ours");
    let mut dead = workers.remove(i);
    dead.signal(libc::SIGKILL);
    let _ = dead.child.wait();
    for m in 15..30 {
        ingest(&srv, raw, &minute_of(&rows, m)).await;
    }
    // A closing row in every partition (each request goes to the next one).
    for _ in 0..4 {
        ingest(&srv, raw, &[at(31, 0, 0)]).await;
    }
    let want = per_minute_by_hand(&rows);
    assert_eq!(want.len(), 30 * 3);
    let got = eventually(Duration::from_secs(120), "every window", || async {
        let got = per_minute_in_pg(&srv, table).await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(got, want, "each window once, with every row");
    // Every row went through exactly one task.
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    let node = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_type"] == "realtime")
        .unwrap()
        .clone();
    let rt = &node["runtime"];
    assert_eq!(rt["rows_in"], rows.len() as i64 + 4, "{node}");
    assert_eq!(rt["late_rows"], 0, "{node}");
    assert!(rt["windows"].as_i64().unwrap() >= 30, "{node}");
    drop(workers);
    srv.cleanup_bus().await;
}

/// The input of a running parallel node goes from 2 partitions to 4 mid-stream: the node's
/// exchanges take the new partitions from their start and its tasks wait for them too.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_node_follows_its_input_to_more_partitions() {
    let srv = nats_server().await;
    let env = [
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_JOB_LEASE_MS", "1500"),
    ];
    let _workers: Vec<_> = (0..2).map(|_| srv.worker(&env)).collect();
    let (raw, _, _) = per_ip_flow_over(&srv, 2).await;
    let table = "mapleleaf_591.per_ip_591";
    let rows = system_proc(T0, 20, 5);
    for m in 0..10 {
        ingest(&srv, raw, &minute_of(&rows, m)).await;
    }
    eventually(WAIT, "some windows stored", || async {
        (per_minute_in_pg(&srv, table).await.len() >= 3 * 3).then_some(())
    })
    .await;
    assert_eq!(set_partitions(&srv, raw, 4).await, 4);
    // The node's exchanges know the new partitions before any record goes there.
    let c = bkdata_tests::seed000::pg(&srv).await;
    eventually(WAIT, "4 exchanges", || async {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM background_jobs WHERE job_type = 'flow_exchange' AND status IN ('queued', 'running')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (n == 4).then_some(())
    })
    .await;
    for m in 10..20 {
        ingest(&srv, raw, &minute_of(&rows, m)).await;
    }
    for _ in 0..4 {
        ingest(&srv, raw, &[at(21, 0, 0)]).await;
    }
    let want = per_minute_by_hand(&rows);
    let got = eventually(Duration::from_secs(90), "every window", || async {
        let got = per_minute_in_pg(&srv, table).await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(got, want, "each window once, with every row");
    drop(_workers);
    srv.cleanup_bus().await;
}

/// The hardest moment: a window's rows are on the bus, the checkpoint not yet written.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_output_and_checkpoint_emits_no_window_twice() {
    let srv = nats_server().await;
    let env = [
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_JOB_LEASE_MS", "1500"),
    ];
    let mut first = srv.worker(&[env[0], env[1], ("BKDATA_FAILPOINT", "flow_after_publish:3")]);
    let raw = per_ip_flow(&srv).await;
    let rows = system_proc(T0, 12, 3);
    // Minute by minute: windows go out in one publish or several, as the node reads them.
    for m in 0..12 {
        ingest(&srv, raw, &minute_of(&rows, m)).await;
    }
    ingest(&srv, raw, &[at(13, 0, 0)]).await;
    // The storage sees the published windows before the crash is recovered from.
    let status = eventually(WAIT, "the worker to abort at the failpoint", || {
        let st = first.child.try_wait().unwrap();
        async move { st }
    })
    .await;
    assert!(!status.success());
    let _second = srv.worker(&env);
    let want = per_minute_by_hand(&rows);
    let got = eventually(Duration::from_secs(90), "every window", || async {
        let got = per_minute_in_pg(&srv, "mapleleaf_591.per_ip_591").await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(got, want, "each window once, with every row");
    drop(_second);
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deploy_leaves_nothing_running_and_edits_apply_at_restart() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let database = unique("bkflow_");
    let (project, raw) = prerequisites(&srv, &database).await;
    source_running(&srv).await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "down", "cluster_type": "mysql",
            "connection_info": {"host": "127.0.0.1", "port": 1, "user": "root", "password": ""}})),
    )
    .await;
    let sql = "SELECT count(*) AS n, sum(mem_res) AS total FROM 591_system_proc";
    let mut nodes = pg_flow(
        "edited",
        json!({"window_type": "scroll", "count_freq": 60, "waiting_time": 0}),
        sql,
    );
    nodes.as_array_mut().unwrap().push(
        json!({"id": 4, "bk_biz_id": 591, "node_type": "mysql_storage",
        "name": "unreachable", "cluster": "down", "expires": 3,
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_edited"]}]}),
    );
    let flow = create_flow(&srv, project, nodes).await;
    let t = srv
        .bk_ok(
            Method::POST,
            &format!("/v3/dataflow/flow/flows/{flow}/start/"),
            Some(json!({})),
        )
        .await;
    let d = finished_deploy(&srv, flow).await;
    assert_eq!(d["status"], "failure", "{d}");
    assert_eq!(d["id"], t["task_id"]);
    assert!(
        d["logs_en"]
            .as_str()
            .unwrap()
            .contains("creating the table"),
        "{d}"
    );
    assert_eq!(flow_status(&srv, flow).await, "failure");
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    assert!(
        g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "no-start"),
        "nothing left running: {g}"
    );
    let c = bkdata_tests::seed000::pg(&srv).await;
    let live: i64 = c
        .query_one(
            "SELECT count(*) FROM background_jobs WHERE job_type IN ('flow_run', 'ship_run') AND status IN ('queued', 'running')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "no realtime node or shipper of the flow runs");
    // The failure is an alert of the flow's app, built by the worker.
    let alert = eventually(WAIT, "the deploy failure alert", || async {
        let v = srv
            .bk_ok(
                Method::GET,
                "/v3/alert/alerts/?query=bkdata%20flow%20deploy%20failed",
                None,
            )
            .await;
        v["alerts"].as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(alert["status"], "ABNORMAL", "{alert}");
    assert!(
        alert["event"]["target"]
            .as_str()
            .unwrap()
            .starts_with(&format!("flow {flow} ")),
        "{alert}"
    );
    assert!(alert["event"]["description"]
        .as_str()
        .unwrap()
        .contains("creating the table"));

    // Point the node at a reachable cluster; the flow starts.
    let storage_node = g["nodes"][3]["node_id"].as_i64().unwrap();
    srv.bk_ok(
        Method::PATCH,
        &format!("/v3/dataflow/flow/flows/{flow}/nodes/{storage_node}/"),
        Some(json!({"cluster": "yyy-lasting"})),
    )
    .await;
    deploy(&srv, flow, "start", json!({})).await;
    ingest(&srv, raw, &[at(0, 0, 1), at(0, 10, 2), at(1, 0, 4)]).await;
    let got = eventually(WAIT, "minute 0", || async {
        let got = windows_in_pg(&srv, "mapleleaf_591.edited_591").await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got, [(0, 2, 3)]);
    // The successful start recovers the alert.
    let id = alert["id"].as_str().unwrap().to_string();
    eventually(WAIT, "the alert recovered", || async {
        let v = srv
            .bk_ok(Method::GET, &format!("/v3/alert/alerts/{id}/"), None)
            .await;
        (v["status"] == "RECOVERED").then_some(())
    })
    .await;

    // An edit of the running flow waits for a restart.
    let rt_node = g["nodes"][1]["node_id"].as_i64().unwrap();
    srv.bk_ok(
        Method::PATCH,
        &format!("/v3/dataflow/flow/flows/{flow}/nodes/{rt_node}/"),
        Some(
            json!({"sql": "SELECT count(*) AS n, sum(mem_res) * 10 AS total FROM 591_system_proc"}),
        ),
    )
    .await;
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    assert_eq!(g["nodes"][1]["has_modify"], true, "{g}");
    assert_eq!(g["nodes"][0]["has_modify"], false);
    deploy(&srv, flow, "restart", json!({"consuming_mode": "continue"})).await;
    let g = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/dataflow/flow/flows/{flow}/graph/"),
            None,
        )
        .await;
    assert_eq!(g["nodes"][1]["has_modify"], false, "{g}");
    ingest(&srv, raw, &[at(2, 0, 100)]).await;
    let got = eventually(WAIT, "minute 1 with the new SQL", || async {
        let got = windows_in_pg(&srv, "mapleleaf_591.edited_591").await;
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(
        got,
        [(0, 2, 3), (1, 1, 40)],
        "minute 1 (held over the restart) by the new SQL"
    );
    // The MariaDB storage's shipper reads the same output on its own: it may trail PostgreSQL's.
    let pool = maria();
    let mut m = pool.get_conn().await.unwrap();
    let q = format!("SELECT count(*) FROM {database}.edited_591");
    let mut n: Option<i64> = None;
    let deadline = std::time::Instant::now() + WAIT;
    while n != Some(2) && std::time::Instant::now() < deadline {
        n = m.query_first(&q).await.unwrap();
        if n != Some(2) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(n, Some(2), "the MariaDB storage has both windows too");
    m.query_drop(format!("DROP DATABASE IF EXISTS {database}"))
        .await
        .unwrap();
    drop(_worker);
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_and_queue_storage_nodes() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let (project, raw) = prerequisites(&srv, "unused").await;
    source_running(&srv).await;
    let prefix = format!("{}:", unique("bkflow"));
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "cache", "cluster_type": "redis",
            "connection_info": {"host": "127.0.0.1", "port": 6379, "key_prefix": prefix}})),
    )
    .await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "bus", "cluster_type": "queue", "connection_info": {}})),
    )
    .await;
    let sql = "SELECT max(mem_res) AS mem, ip, pid FROM 591_system_proc GROUP BY ip, pid";
    let mut nodes = pg_flow(
        "latest",
        json!({"window_type": "scroll", "count_freq": 60, "waiting_time": 0}),
        sql,
    );
    // bklog's redis node: the latest row per key.
    nodes[2] = json!({"id": 3, "bk_biz_id": 591, "node_type": "redis_storage", "name": "cache",
        "cluster": "cache", "storage_type": "join", "keys": ["ip", "pid"], "separator": ":",
        "key_separator": "_", "expires": 1,
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_latest"]}]});
    nodes.as_array_mut().unwrap().push(
        json!({"id": 4, "bk_biz_id": 591, "node_type": "queue_storage",
        "name": "queue", "cluster": "bus", "expires": 3,
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_latest"]}]}),
    );
    let flow = create_flow(&srv, project, nodes).await;
    deploy(&srv, flow, "start", json!({})).await;
    let host = |ip: &str, minute: i64, mem: i64| Proc {
        ip: ip.into(),
        ..at(minute, 0, mem)
    };
    ingest(
        &srv,
        raw,
        &[
            host("10.0.0.1", 0, 5),
            host("10.0.0.2", 0, 6),
            host("10.0.0.1", 1, 7),
            host("10.0.0.1", 1, 3),
            host("10.0.0.2", 1, 9),
            host("10.0.0.3", 2, 1),
        ],
    )
    .await;
    let mut rc = redis::Client::open("redis://127.0.0.1:6379/0")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let get = |key: String| {
        let mut rc = rc.clone();
        async move {
            let got: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut rc)
                .await
                .unwrap();
            got.map(|s| serde_json::from_str::<Value>(&s).unwrap())
        }
    };
    let key = |ip: &str| format!("{prefix}591_latest:{ip}_100");
    let latest = eventually(WAIT, "minute 1's rows in Redis", || async {
        let a = get(key("10.0.0.1")).await?;
        let b = get(key("10.0.0.2")).await?;
        (a["dtEventTimeStamp"] == T0 + 60_000 && b["dtEventTimeStamp"] == T0 + 60_000)
            .then_some((a, b))
    })
    .await;
    assert_eq!(
        (latest.0["mem"].as_i64(), latest.1["mem"].as_i64()),
        (Some(7), Some(9))
    );
    assert_eq!(get(key("10.0.0.3")).await, None, "minute 2 is still open");
    // The queue storage is the table's stream itself.
    let tail = srv
        .bk_ok(
            Method::GET,
            "/v3/databus/result_tables/591_latest/tail/?limit=10",
            None,
        )
        .await;
    assert_eq!(tail.as_array().unwrap().len(), 4, "{tail}");
    let _: i64 = redis::cmd("DEL")
        .arg(key("10.0.0.1"))
        .arg(key("10.0.0.2"))
        .query_async(&mut rc)
        .await
        .unwrap();
    drop(_worker);
    srv.cleanup_bus().await;
}

/// An `alert_storage` node: the flow's output rows become alert events (the node's
/// `alert_name` and `target_field`, the row's `severity`).
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_storage_node_raises_alerts_from_the_flow_output() {
    let srv = nats_server().await;
    let _worker = srv.worker(&[
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_ALERT_POLL_MS", "200"),
    ]);
    let database = unique("bkflow_");
    let (project, raw) = prerequisites(&srv, &database).await;
    source_running(&srv).await;
    let mut nodes = pg_flow(
        "memhigh",
        json!({"window_type": "scroll", "count_freq": 60, "waiting_time": 0}),
        "SELECT ip, max(mem_res) AS severity FROM 591_system_proc GROUP BY ip",
    );
    nodes[2] = json!({"id": 3, "bk_biz_id": 591, "node_type": "alert_storage", "name": "alerts",
        "cluster": "default-alert", "alert_name": "memory high", "target_field": "ip",
        "from_nodes": [{"id": 2, "from_result_table_ids": ["591_memhigh"]}]});
    let flow = create_flow(&srv, project, nodes).await;
    deploy(&srv, flow, "start", json!({})).await;
    // Two minutes ago (a day-old event would build nothing); the next minute closes it.
    let base = (chrono::Utc::now().timestamp_millis() / 60_000 - 2) * 60_000;
    let row = |ms: i64, ip: &str, mem: i64| Proc {
        time: base + ms,
        ip: ip.into(),
        pid: 1,
        cpu: 1.0,
        mem_pct: 1.0,
        mem_res: mem,
    };
    ingest(
        &srv,
        raw,
        &[
            row(0, "10.9.0.1", 1),
            row(1000, "10.9.0.2", 2),
            row(61_000, "10.9.0.1", 1),
        ],
    )
    .await;
    let v = eventually(WAIT, "alerts from the flow", || async {
        let v = srv
            .bk_ok(Method::GET, "/v3/alert/alerts/?ordering=severity", None)
            .await;
        (v["total"] == 2).then_some(v)
    })
    .await;
    let got: Vec<(String, i64)> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["event"]["target"].as_str().unwrap().to_string(),
                a["severity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("10.9.0.1".to_string(), 1), ("10.9.0.2".to_string(), 2)]
    );
    assert_eq!(v["alerts"][0]["alert_name"], "memory high");
    srv.cleanup_bus().await;
}

/// Ingest `rows` until every one is taken: a batch refused while the bus moves a stream's
/// leader (1500503, with how many went in) is sent again from where it stopped.
async fn ingest_surely(srv: &TestServer, raw_id: i64, rows: &[Proc]) {
    for chunk in rows.chunks(5000) {
        let mut from = 0;
        let deadline = std::time::Instant::now() + WAIT;
        while from < chunk.len() {
            let (st, v) = srv.ingest(raw_id, ndjson(&chunk[from..])).await;
            assert_eq!(st, 200, "{v}");
            if v["result"] == true {
                break;
            }
            assert_eq!(v["code"], "1500503", "{v}");
            from += v["errors"]["accepted_records"].as_u64().unwrap_or(0) as usize;
            assert!(std::time::Instant::now() < deadline, "ingest refused: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_on_a_3_node_cluster_survive_a_node_stop() {
    windows_on_a_cluster_with_a_node_stopped(1, 1).await;
}

/// The same with the input in 4 partitions (a node in 4 tasks, 4 exchanges, 4 cleans and 4
/// shippers, all R3 streams) over two workers.
#[tokio::test(flavor = "multi_thread")]
async fn partitioned_windows_on_a_3_node_cluster_survive_a_node_stop() {
    windows_on_a_cluster_with_a_node_stopped(4, 2).await;
}

async fn windows_on_a_cluster_with_a_node_stopped(partitions: u32, workers: usize) {
    let mut cluster = PrivateNatsCluster::start(3).await;
    let srv = TestServer::on_cluster(&cluster).await;
    let env = [
        ("BKDATA_FLOW_IDLE_MS", "600000"),
        ("BKDATA_JOB_LEASE_MS", "1500"),
    ];
    let _workers: Vec<_> = (0..workers).map(|_| srv.worker(&env)).collect();
    let (raw, _, _) = per_ip_flow_over(&srv, partitions).await;
    let table = "mapleleaf_591.per_ip_591";
    let rows = system_proc(T0, 30, 11);
    // Minute by minute: each request goes to the next partition.
    for m in 0..15 {
        ingest_surely(&srv, raw, &minute_of(&rows, m)).await;
    }
    // A node away while the second half streams through clean, node and shipper.
    cluster.nodes[1].stop();
    for m in 15..30 {
        ingest_surely(&srv, raw, &minute_of(&rows, m)).await;
    }
    cluster.nodes[1].restart();
    // A closing row in every partition.
    for _ in 0..partitions {
        ingest_surely(&srv, raw, std::slice::from_ref(&at(31, 0, 0))).await;
    }
    let want = per_minute_by_hand(&rows);
    let got = eventually(Duration::from_secs(120), "every window", || async {
        let got = per_minute_in_pg(&srv, table).await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(got, want, "each window once, with every row");
}

//! Flows running on real services: seed 004's tutorial end to end (its nodes as sent, start,
//! records ingested, per-5-minute maxima in MariaDB equal to the SQL by hand), stop and
//! start with each consuming mode, a chained realtime node, and a worker killed mid-window.
use bkdata_tests::seed000::{maria, unique};
use bkdata_tests::seed004::*;
use bkdata_tests::*;
use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

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
    let d = eventually(WAIT, "the deploy to finish", || async {
        let d = srv
            .bk_ok(
                Method::GET,
                &format!("/v3/dataflow/flow/flows/{flow}/latest_deploy_data/"),
                None,
            )
            .await;
        matches!(d["status"].as_str(), Some("success" | "failure")).then_some(d)
    })
    .await;
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
        assert_eq!(st, 200, "{v}");
    }
}

type Maxima = BTreeMap<(i64, String, i64), (i64, f64, f64)>;

async fn maria_maxima(pool: &mysql_async::Pool, table: &str) -> Maxima {
    let mut c = pool.get_conn().await.unwrap();
    let rows: Vec<(i64, String, i64, i64, f64, f64)> = c
        .query(format!(
            "SELECT dtEventTimeStamp, ip, pid, mem, cpu_usage_pct, mem_usage_pct FROM {table}"
        ))
        .await
        .unwrap_or_default();
    let mut out = Maxima::new();
    for (w, ip, pid, mem, cpu, memp) in rows {
        assert!(
            out.insert((w, ip, pid), (mem, cpu, memp)).is_none(),
            "a window's row is stored twice"
        );
    }
    out
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
    let flow = create_flow(&srv, project, tutorial_nodes()).await;
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
    let d = deploy(&srv, flow, "start", json!({"consuming_mode": "continue"})).await;
    assert_eq!(d["action"], "start");
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
        ["mem", "cpu_usage_pct", "mem_usage_pct", "ip", "pid", "dtEventTime", "dtEventTimeStamp", "localTime"]
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
}

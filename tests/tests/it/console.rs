//! The web console end to end: a server with its own database and bus serving `console/dist`,
//! a worker, and Playwright driving Debian's chromium through one spec of `console/e2e/`.
//! Each test sets up what its spec needs through the API, runs the spec (which only uses the
//! browser), then checks what the clicks did where it matters (rows in MariaDB).
//! Needs the console built and chromium installed: `scripts/console.sh` does both.
use bkdata_tests::seed000::{maria, unique};
use bkdata_tests::seed004::*;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn console_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../console")
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Where the specs put their screenshots (`docs/console/` holds the committed ones).
fn shots_dir() -> PathBuf {
    std::env::var("BKDATA_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-shots")
        })
}

async fn console_server() -> TestServer {
    let root = console_root();
    for (what, path) in [
        ("the console is not built", root.join("dist/index.html")),
        (
            "the console's packages are not installed",
            root.join("node_modules/@playwright/test"),
        ),
        ("chromium is not installed", PathBuf::from(chromium())),
    ] {
        assert!(
            path.exists(),
            "{what} ({}): run scripts/console.sh",
            path.display()
        );
    }
    let dist = root.join("dist");
    TestServer::start_with(move |c| {
        c.nats_url = nats_url();
        c.console_dir = Some(dist);
    })
    .await
}

/// Run `console/e2e/{spec}` against `srv`; `env` adds to the credentials of the server's app.
async fn run_spec(srv: &TestServer, spec: &str, env: &[(&str, String)]) {
    let out_dir = std::env::temp_dir().join(format!("bkdata-e2e-{}-{spec}", std::process::id()));
    let mut cmd = tokio::process::Command::new("npx");
    cmd.current_dir(console_root())
        .args(["playwright", "test", &format!("e2e/{spec}")])
        .env("BKDATA_URL", &srv.base)
        .env("APP_CODE", &srv.app_code)
        .env("APP_SECRET", &srv.secret)
        .env("CHROMIUM", chromium())
        .env("BKDATA_E2E_OUT", &out_dir)
        .env("BKDATA_SCREENSHOTS_DIR", shots_dir())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{spec} ran over 10 minutes"))
        .expect("npx playwright");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{spec} failed:\n{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_refuses_a_wrong_secret_and_remembers_the_language() {
    let srv = console_server().await;
    let _worker = srv.worker(&[("BKDATA_WORKER_ID", "console-worker-1")]);
    run_spec(&srv, "signin.spec.ts", &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed004s_flow_is_built_on_the_canvas_and_its_windows_are_stored() {
    let srv = console_server().await;
    // Windows close by event time only (the records are of a past day: the idle rule would
    // close the last, partial one by the clock).
    let _worker = srv.worker(&[("BKDATA_FLOW_IDLE_MS", "600000")]);
    let database = unique("bkconsole_");
    let (project, raw_id) = prerequisites(&srv, &database).await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": "591_system_proc", "storages": ["kafka"]})),
    )
    .await;
    // 12 simulated minutes: the windows [0, 5) and [5, 10) close (waiting_time 60 s).
    let rows = system_proc(T0, 12, 3);
    let sample = ndjson(&rows);
    run_spec(
        &srv,
        "flow.spec.ts",
        &[
            ("PROJECT_ID", project.to_string()),
            ("RAW_DATA_ID", raw_id.to_string()),
            ("SAMPLE", sample),
            ("RECORDS", rows.len().to_string()),
        ],
    )
    .await;
    // The stored windows equal the tutorial's SQL by hand, each once.
    let want: BTreeMap<_, _> = maxima_by_hand(&rows)
        .into_iter()
        .filter(|((w, _, _), _)| *w < T0 + 600_000)
        .collect();
    let pool = maria();
    let table = format!("{database}.system_proc_ip_grp_591");
    let stored = eventually(Duration::from_secs(60), "the windows stored", || async {
        let got = maria_maxima(&pool, &table).await;
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(stored, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_is_debugged_node_by_node_in_the_editor() {
    let srv = console_server().await;
    prerequisites(&srv, "unused").await;
    run_spec(&srv, "clean.spec.ts", &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_task_is_created_executed_and_its_file_downloaded() {
    let biz = tokio::task::block_in_place(|| highway_db(7));
    let biz_url = biz.url.clone();
    let dist = console_root().join("dist");
    let srv = TestServer::start_with(move |c| {
        c.console_dir = Some(dist);
        c.business_dbs = highway_registry(biz_url);
    })
    .await;
    let inputs = tempfile::tempdir().unwrap();
    std::fs::write(
        inputs.path().join("tables.txt"),
        "bss_company\nbss_service_area\n",
    )
    .unwrap();
    let _worker = WorkerProc::spawn_bin(
        "bkdata-worker",
        &srv.db.url,
        &srv.data_dir,
        &[
            ("BKDATA_APP_DB_URL", biz.url.as_str()),
            ("BKDATA_APP_DB_NAME", "highway_db"),
            ("BKDATA_PIPELINE_INPUT_DIR", inputs.path().to_str().unwrap()),
        ],
    );
    run_spec(&srv, "pipeline.spec.ts", &[]).await;
}

/// One bk-monitor event, built into an alert by the worker; its id.
async fn one_alert(srv: &TestServer, name: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    srv.bk_ok(
        Method::POST,
        "/v3/alert/events/",
        Some(
            json!({"events": [{"event_id": unique("ev"), "plugin_id": "bkmonitor", "strategy_id": 7,
            "alert_name": name, "severity": 1, "status": "ABNORMAL", "target_type": "HOST",
            "target": "10.0.0.1", "bk_biz_id": 2, "time": now, "description": "cpu over 90%",
            "tags": [{"key": "host", "value": "10.0.0.1"}]}]}),
        ),
    )
    .await;
    eventually(Duration::from_secs(60), "the alert built", || async {
        let v = srv
            .bk_ok(Method::GET, "/v3/alert/alerts/?status=ABNORMAL", None)
            .await;
        v["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["alert_name"] == name)?["id"]
            .as_str()
            .map(str::to_string)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_is_found_and_acknowledged() {
    let srv = console_server().await;
    let _worker = srv.worker(&[]);
    let id = one_alert(&srv, "cpu_high_console").await;
    run_spec(&srv, "alerts.spec.ts", &[("ALERT_ID", id.clone())]).await;
    let a = srv
        .bk_ok(Method::GET, &format!("/v3/alert/alerts/{id}/"), None)
        .await;
    assert_eq!(a["is_ack"], true, "{a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_app_never_sees_anothers_objects_and_pages_load_quickly_with_many() {
    let srv = console_server().await;
    let _worker = srv.worker(&[]);
    let (project, _raw) = prerequisites(&srv, "unused").await;
    // 100 flows and 1,000 alerts of the first app.
    for i in 0..100 {
        srv.bk_ok(
            Method::POST,
            "/v3/dataflow/flow/flows/create/",
            Some(
                json!({"project_id": project, "flow_name": format!("many_{i}"),
                        "nodes": [tutorial_nodes()[0].clone()]}),
            ),
        )
        .await;
    }
    let now = chrono::Utc::now().timestamp();
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"event_id": format!("many-{i}"), "plugin_id": "bkmonitor", "strategy_id": 8,
                   "alert_name": format!("many_{i}"), "severity": 2, "status": "ABNORMAL",
                   "target_type": "HOST", "target": format!("10.1.{}.{}", i / 250, i % 250),
                   "bk_biz_id": 2, "time": now, "tags": [{"key": "n", "value": i.to_string()}]})
        })
        .collect();
    srv.bk_ok(
        Method::POST,
        "/v3/alert/events/",
        Some(json!({"events": events})),
    )
    .await;
    eventually(Duration::from_secs(120), "1,000 alerts built", || async {
        let v = srv
            .bk_ok(Method::GET, "/v3/alert/alerts/?page_size=1", None)
            .await;
        (v["total"].as_i64()? >= 1000).then_some(())
    })
    .await;
    let other = srv.other_app("console-other");
    let o: Value = serde_json::from_str(&other).unwrap();
    run_spec(
        &srv,
        "isolation.spec.ts",
        &[
            ("OTHER_CODE", o["bk_app_code"].as_str().unwrap().to_string()),
            (
                "OTHER_SECRET",
                o["bk_app_secret"].as_str().unwrap().to_string(),
            ),
        ],
    )
    .await;
}

/// Every API path in the console's source is an operation of `openapi.json`: the console
/// uses the documented API, no private endpoint. Paths are the string and template literals
/// starting with `/v3/`, `/v4/` or (through `pipe`) the pipeline API's `/tasks`, `/monitor`,
/// `/stats`, `/databases`; `${…}` stands for one path parameter, a query string is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_calls_only_documented_endpoints() {
    let doc = bkdata_server::openapi::document();
    let documented: Vec<Vec<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| p.split('/').map(str::to_string).collect())
        .collect();
    let matches = |path: &str| {
        let parts: Vec<&str> = path.split('/').collect();
        documented.iter().any(|d| {
            d.len() == parts.len()
                // A `{}` of the console's (an id, or a computed action such as start/stop)
                // stands for any one segment.
                && d.iter().zip(&parts).all(|(a, b)| a == b || *b == "{}")
        })
    };
    let mut found = 0;
    let mut missing = Vec::new();
    let src = console_root().join("src");
    let mut files = vec![src.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for quote in ['"', '`'] {
            for piece in text.split(quote).skip(1).step_by(2) {
                let (prefix, path) = if piece.starts_with("/v3/")
                    || piece.starts_with("/v4/")
                    || piece.starts_with("/api/v0/data_pipeline/")
                {
                    ("", piece)
                } else if ["/tasks", "/monitor/", "/stats", "/databases"]
                    .iter()
                    .any(|p| piece.starts_with(p))
                {
                    ("/api/v0/data_pipeline", piece)
                } else {
                    continue;
                };
                // Prose in comments ("`/v3/…`") is not a call.
                if path.contains('…') {
                    continue;
                }
                // Query strings (`?…` or `${qs(…)}` at the end) are not part of the path.
                let path = path.split('?').next().unwrap();
                let path = match path.rfind("${qs(") {
                    Some(i) => &path[..i],
                    None => path,
                };
                // A parameter's `${…}` may hold slashes only in its expression: keep it whole.
                let mut norm = String::new();
                let mut depth = 0;
                for ch in path.chars() {
                    match ch {
                        '{' if norm.ends_with('$') => {
                            depth += 1;
                            norm.push_str("{}");
                        }
                        '{' if depth > 0 => depth += 1,
                        '}' if depth > 0 => depth -= 1,
                        _ if depth > 0 => {}
                        c => norm.push(c),
                    }
                }
                let full = format!("{prefix}{norm}").replace("${}", "{}");
                found += 1;
                if !matches(&full) {
                    missing.push(format!("{}: {full}", p.display()));
                }
            }
        }
    }
    assert!(
        found > 30,
        "only {found} API paths found in the console's source"
    );
    assert!(missing.is_empty(), "not in openapi.json: {missing:#?}");
}

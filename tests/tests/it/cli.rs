//! The `bkdata` command line: seed 004's tutorial done entirely with it, on the real
//! services, and the exit codes scripts rely on.
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bkdata_tests::seed000::{maria, unique};
use bkdata_tests::seed004::*;
use bkdata_tests::*;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};
use std::time::Duration;

struct Cli {
    env: Vec<(String, String)>,
    dir: TempDir,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Cli {
    fn new(url: &str, app: &str, secret: &str) -> Self {
        Cli {
            env: vec![
                ("BKDATA_URL".into(), url.into()),
                ("BKDATA_APP_CODE".into(), app.into()),
                ("BKDATA_APP_SECRET".into(), secret.into()),
                ("BKDATA_USERNAME".into(), "admin".into()),
                ("BKDATA_CONFIG".into(), "/nonexistent/bkdata.toml".into()),
                ("BKDATA_TIMEOUT_S".into(), "10".into()),
            ],
            dir: TempDir::new("cli"),
        }
    }

    fn with(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(x, _)| x != k);
        self.env.push((k.into(), v.into()));
        self
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    }

    async fn run(&self, args: &[&str]) -> Ran {
        let out = tokio::process::Command::new(workspace_bin("bkdata"))
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("run bkdata");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed004_tutorial_with_the_cli() {
    let srv = nats_server().await;
    let worker = srv.worker(&[]);
    let cli = Cli::new(&srv.base, &srv.app_code, &srv.secret);
    let database = unique("bkcli_");

    // The prerequisites: raw data cleaned into 591_system_proc, its clean running, the
    // yyy-lasting cluster, a project of biz 591.
    let raw = cli
        .run(&[
            "-o",
            "json",
            "rawdata",
            "create",
            "--biz",
            "591",
            "--name",
            "system_proc",
        ])
        .await
        .json();
    let raw_id = raw["raw_data_id"].as_i64().unwrap();
    let (conf, fields) = system_proc_clean();
    let conf_file = cli.file("conf.json", &conf.to_string());
    let sample = system_proc(T0, 1, 1)[0].line();
    let verify = cli
        .run(&["clean", "verify", "--conf", &conf_file, "--msg", &sample])
        .await;
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify.stdout.contains("mem_res") && verify.stdout.contains("row 0"),
        "{}",
        verify.stdout
    );
    let clean_file = cli.file(
        "clean.json",
        &json!({"raw_data_id": raw_id, "bk_biz_id": 591, "result_table_name": "system_proc",
        "json_config": conf.to_string(), "fields": fields})
        .to_string(),
    );
    let clean = cli
        .run(&["-o", "json", "clean", "create", "--file", &clean_file])
        .await
        .json();
    assert_eq!(clean["result_table_id"], "591_system_proc");
    let started = cli
        .run(&[
            "-o",
            "json",
            "task",
            "start",
            "591_system_proc",
            "--storages",
            "kafka",
        ])
        .await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    let cluster_file = cli.file("cluster.json", &json!({"cluster_name": "yyy-lasting", "cluster_type": "tspider",
        "connection_info": {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": database}}).to_string());
    assert_eq!(
        cli.run(&["cluster", "create", "--file", &cluster_file])
            .await
            .code,
        0
    );
    let project = cli
        .run(&[
            "-o", "json", "project", "create", "--name", "tutorial", "--biz", "591",
        ])
        .await
        .json()["project_id"]
        .as_i64()
        .unwrap()
        .to_string();

    // The tutorial: its nodes as they are, create, start (and wait), then data.
    let nodes_file = cli.file("nodes.json", &tutorial_nodes().to_string());
    let created = cli
        .run(&[
            "-o",
            "json",
            "flow",
            "create",
            "--file",
            &nodes_file,
            "--project",
            &project,
            "--name",
            "data-test",
        ])
        .await
        .json();
    let flow = created["flow_id"].as_i64().unwrap().to_string();
    assert_eq!(created["node_ids"].as_array().unwrap().len(), 3);
    let start = cli
        .run(&["-o", "json", "flow", "start", &flow, "--wait"])
        .await
        .json();
    assert!(start["task_id"].is_i64());
    let rows = system_proc(T0, 20, 1);
    let mut all = rows.clone();
    all.push(Proc {
        time: T0 + 21 * 60_000 + 1,
        ip: "10.0.0.9".into(),
        pid: 1,
        cpu: 0.0,
        mem_pct: 0.0,
        mem_res: 0,
    });
    let records = cli.file("records.ndjson", &ndjson(&all));
    let ingested = cli
        .run(&[
            "-o",
            "json",
            "rawdata",
            "ingest",
            &raw_id.to_string(),
            &records,
            "--batch",
            "300",
        ])
        .await
        .json();
    assert_eq!(ingested["records"], all.len());

    // The stored maxima, read back with `bkdata query`, equal the SQL by hand.
    let want = maxima_by_hand(&rows);
    let sql = "SELECT dtEventTimeStamp AS w, ip, pid, mem, cpu_usage_pct, mem_usage_pct FROM 591_system_proc_ip_grp";
    let got = eventually(
        Duration::from_secs(60),
        "the windows through `bkdata query`",
        || async {
            let q = cli.run(&["-o", "json", "query", sql]).await;
            if q.code != 0 {
                return None;
            }
            let v = q.json();
            (v["total_records"].as_u64() == Some(want.len() as u64)).then_some(v)
        },
    )
    .await;
    let mut stored = std::collections::BTreeMap::new();
    for r in got["list"].as_array().unwrap() {
        stored.insert(
            (
                r["w"].as_i64().unwrap(),
                r["ip"].as_str().unwrap().to_string(),
                r["pid"].as_i64().unwrap(),
            ),
            (
                r["mem"].as_i64().unwrap(),
                r["cpu_usage_pct"].as_f64().unwrap(),
                r["mem_usage_pct"].as_f64().unwrap(),
            ),
        );
    }
    assert_eq!(stored, want);
    // As a table too, with the columns in the query's order.
    let table = cli.run(&["query", "SELECT ip, pid, max(mem) AS mem FROM 591_system_proc_ip_grp GROUP BY ip, pid ORDER BY ip, pid"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.starts_with("ip        pid  mem"),
        "{}",
        table.stdout
    );
    assert!(table.stderr.contains("6 row(s)"), "{}", table.stderr);

    // The graph drawn, the status, export → import, stop.
    let graph = cli.run(&["flow", "graph", &flow]).await;
    assert!(
        graph.stdout.contains("统计 5min 最大内存和 cpu") && graph.stdout.contains("↑ from #"),
        "{}",
        graph.stdout
    );
    assert!(graph.stdout.contains("windows 4"), "{}", graph.stdout);
    let status = cli
        .run(&["-o", "json", "flow", "status", &flow])
        .await
        .json();
    assert_eq!(
        (status["status"].as_str(), status["deploy_status"].as_str()),
        (Some("running"), Some("success"))
    );
    let exported = cli.run(&["flow", "export", &flow]).await;
    let export_file = cli.file("export.json", &exported.stdout);
    assert_eq!(
        cli.run(&["-o", "json", "flow", "stop", &flow, "--wait"])
            .await
            .code,
        0
    );
    assert_eq!(cli.run(&["flow", "delete", &flow]).await.code, 0);
    let imported = cli
        .run(&["-o", "json", "flow", "import", "--file", &export_file])
        .await
        .json();
    assert!(imported["flow_id"].is_i64());

    // A data pipeline task: create, execute, watch its steps to the end, its files.
    let task = cli
        .run(&[
            "-o",
            "json",
            "pipeline",
            "create",
            "--table-list-file",
            "tables.txt",
            "--business-context",
            "高速公路",
        ])
        .await
        .json()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        cli.run(&["-o", "json", "pipeline", "execute", &task])
            .await
            .code,
        0
    );
    let watched = cli.run(&["pipeline", "watch", &task]).await;
    assert_eq!(watched.code, 0, "{}", watched.stderr);
    assert!(
        watched.stderr.contains("[####] 4/4  completed"),
        "{}",
        watched.stderr
    );
    let logs = cli.run(&["pipeline", "logs", &task]).await;
    assert!(logs.code == 0 && !logs.stdout.is_empty(), "{}", logs.stderr);
    let out = cli
        .dir
        .path()
        .join("task_config.json")
        .display()
        .to_string();
    assert_eq!(
        cli.run(&[
            "pipeline",
            "download",
            &task,
            "task_config.json",
            "-O",
            &out
        ])
        .await
        .code,
        0
    );
    assert!(serde_json::from_str::<Value>(&std::fs::read_to_string(&out).unwrap()).is_ok());

    // Exit codes: refused by the API, usage, a missing file, wrong credentials, settings.
    assert_eq!(cli.run(&["flow", "start", "999999"]).await.code, 1);
    assert_eq!(cli.run(&["flow", "start"]).await.code, 2);
    let missing = cli
        .run(&["clean", "create", "--file", "/nonexistent.json"])
        .await;
    assert_eq!(missing.code, 9, "{}", missing.stderr);
    let wrong = Cli::new(&srv.base, &srv.app_code, "wrong-secret")
        .run(&["flow", "list"])
        .await;
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    assert_eq!(
        wrong.stderr.lines().count(),
        1,
        "one line: {}",
        wrong.stderr
    );
    let unset = Cli::new(&srv.base, &srv.app_code, "x")
        .with("BKDATA_URL", "")
        .run(&["flow", "list"])
        .await;
    assert_eq!(unset.code, 8, "{}", unset.stderr);
    let completions = cli.run(&["completions", "bash"]).await;
    assert!(completions.code == 0 && completions.stdout.contains("bkdata"));

    let mut m = maria().get_conn().await.unwrap();
    m.query_drop(format!("DROP DATABASE IF EXISTS {database}"))
        .await
        .unwrap();
    drop(worker);
    srv.cleanup_bus().await;
}

/// A stand-in that answers badly, by path.
async fn bad_server() -> String {
    let app = axum::Router::new()
        .route(
            "/v3/dataflow/flow/flows/",
            axum::routing::get(|| async {
                (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response()
            }),
        )
        .route(
            "/v3/dataflow/flow/flows/1/",
            axum::routing::get(|| async { "this is not json" }),
        )
        .route(
            "/v3/dataflow/flow/flows/2/graph/",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "{}"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_has_its_exit_code() {
    let base = bad_server().await;
    let cli = Cli::new(&base, "app", "secret").with("BKDATA_TIMEOUT_S", "1");
    let five = cli.run(&["flow", "list"]).await;
    assert_eq!(five.code, 6, "a 5xx: {}", five.stderr);
    let garbage = cli.run(&["flow", "status", "1"]).await;
    assert_eq!(garbage.code, 7, "not JSON: {}", garbage.stderr);
    let slow = cli.run(&["flow", "graph", "2"]).await;
    assert_eq!(slow.code, 5, "a timeout: {}", slow.stderr);
    let nobody = Cli::new("http://127.0.0.1:9", "app", "secret")
        .run(&["flow", "list"])
        .await;
    assert_eq!(nobody.code, 4, "unreachable: {}", nobody.stderr);
    for r in [&five, &garbage, &slow, &nobody] {
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        assert!(r.stderr.starts_with("bkdata: "));
    }
}

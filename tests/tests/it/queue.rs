//! The job queue: many workers, exactly-once completion, SIGKILL recovery, retries with
//! backoff, graceful shutdown, and refusal to start on an un-migrated database.
use bkdata_models::jobs::{
    self, BoxFuture, Job, JobContext, JobResult, NewJob, Runner, RunnerConfig,
};
use bkdata_tests::*;
use diesel::prelude::*;
use serde_json::json;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pipeline's jobs (a worker also keeps its timers' jobs, such as the alert path's).
fn pipeline_job_rows(db: &TestDb) -> Vec<(String, i32, Option<String>)> {
    use bkdata_models::schema::background_jobs as j;
    j::table
        .filter(j::job_type.eq(<bkdata_pipeline::ExecuteJob as bkdata_models::jobs::Job>::NAME))
        .select((j::status, j::attempts, j::last_error))
        .load(&mut db.conn())
        .unwrap()
}

fn job_rows(db: &TestDb) -> Vec<(String, i32, Option<String>)> {
    use bkdata_models::schema::background_jobs as j;
    j::table
        .select((j::status, j::attempts, j::last_error))
        .load(&mut db.conn())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_complete_200_executions_exactly_once() {
    let srv = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        tasks.push(srv.create_task(&format!("bulk {i}")).await);
    }
    for t in &tasks {
        let (s, v) = srv
            .post(
                &format!("/tasks/{t}/execute"),
                json!({"execution_mode": "complete"}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }
    let env = [("BKDATA_WORKER_CONCURRENCY", "6")];
    let (_a, _b) = (srv.worker(&env), srv.worker(&env));
    eventually(Duration::from_secs(240), "200 completed tasks", || async {
        let (_, v) = srv.get("/tasks?status=completed&limit=1000").await;
        (v["data"]["total"] == 200).then_some(())
    })
    .await;
    // Each step of each task ran exactly once, by one of the two workers.
    let mut workers = std::collections::HashSet::new();
    for t in &tasks {
        for step in bkdata_api::pipeline::STEP_ORDER {
            let runs =
                std::fs::read_to_string(srv.data_dir.join(t).join(format!("{step}.runs"))).unwrap();
            assert_eq!(runs.lines().count(), 1, "{t} {step}: {runs}");
        }
        let (_, v) = srv.get(&format!("/tasks/{t}/executions")).await;
        let ex = &v["data"]["executions"][0];
        assert_eq!(ex["status"], "completed");
        assert_eq!(ex["attempts"], 1);
        workers.insert(ex["worker_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        workers.len(),
        2,
        "both workers took executions: {workers:?}"
    );
    assert!(
        pipeline_job_rows(&srv.db).is_empty(),
        "{:?}",
        pipeline_job_rows(&srv.db)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_step_has_its_execution_rerun_by_another() {
    let srv = TestServer::start().await;
    let lease = [("BKDATA_JOB_LEASE_MS", "1500")];
    let a = srv.worker(&lease);
    let task = srv.create_task("test: qa_generation=sleep:2500").await;
    srv.post(&format!("/tasks/{task}/execute"), json!({})).await;
    srv.wait_step(&task, "qa_generation", "running", Duration::from_secs(30))
        .await;
    // The step is marked running just before the child starts it and writes its run file.
    let runs = srv.data_dir.join(&task).join("qa_generation.runs");
    let first_child = eventually(Duration::from_secs(30), "the step's run file", || {
        let runs = runs.clone();
        async move {
            std::fs::read_to_string(&runs)
                .ok()
                .filter(|s| !s.is_empty())
        }
    })
    .await;
    a.signal(libc::SIGKILL);
    drop(a);
    let _b = srv.worker(&lease);
    let st = srv
        .wait_status(&task, &["completed", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(st["status"], "completed", "{st}");
    let (_, v) = srv.get(&format!("/tasks/{task}/executions")).await;
    assert_eq!(v["data"]["executions"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"]["executions"][0]["attempts"], 2);
    // The finished step was not run again; the interrupted one was, in a new child.
    let runs = |s: &str| {
        std::fs::read_to_string(srv.data_dir.join(&task).join(format!("{s}.runs"))).unwrap()
    };
    assert_eq!(runs("ddl_generation").lines().count(), 1);
    assert_eq!(runs("qa_generation").lines().count(), 2);
    // The dead worker's child died with it (no orphan kept writing).
    let pid: i32 = first_child
        .trim()
        .rsplit("pid=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z ")
    );
    let (_, v) = srv.get(&format!("/tasks/{task}/logs?level=WARNING")).await;
    assert!(
        v["data"]["logs"].as_array().unwrap().iter().any(|l| {
            let m = l["message"].as_str().unwrap();
            m.contains("execution resumed by worker") && m.contains("lost its lease")
        }),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_running_work_or_releases_it() {
    let srv = TestServer::start().await;
    // A long grace: the running step finishes before the worker exits.
    let mut a = srv.worker(&[("BKDATA_SHUTDOWN_GRACE_MS", "20000")]);
    let task = srv.create_task("test: ddl_generation=sleep:1000").await;
    srv.post(
        &format!("/tasks/{task}/execute"),
        json!({"execution_mode": "step", "step_name": "ddl_generation"}),
    )
    .await;
    srv.wait_step(&task, "ddl_generation", "running", Duration::from_secs(30))
        .await;
    let st = a.stop(Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    let (_, v) = srv.get(&format!("/tasks/{task}")).await;
    assert_eq!(v["data"]["status"], "partial_completed", "{v}");

    // A short grace: the work is released and another worker completes it.
    let mut b = srv.worker(&[("BKDATA_SHUTDOWN_GRACE_MS", "100")]);
    let t2 = srv.create_task("test: ddl_generation=sleep:3000").await;
    srv.post(
        &format!("/tasks/{t2}/execute"),
        json!({"execution_mode": "step", "step_name": "ddl_generation"}),
    )
    .await;
    srv.wait_step(&t2, "ddl_generation", "running", Duration::from_secs(30))
        .await;
    assert!(b.stop(Duration::from_secs(30)).success());
    // The execution's process was stopped before the job went back to the queue.
    let runs = std::fs::read_to_string(srv.data_dir.join(&t2).join("ddl_generation.runs")).unwrap();
    let pid: i32 = runs.trim().rsplit("pid=").next().unwrap().parse().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "child {pid} still running: {stat}"
    );
    let rows = pipeline_job_rows(&srv.db);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "queued", "{rows:?}");
    assert!(
        rows[0].2.as_deref().unwrap_or("").contains("released"),
        "{rows:?}"
    );
    let _c = srv.worker(&[]);
    let st = srv
        .wait_status(&t2, &["partial_completed"], Duration::from_secs(60))
        .await;
    assert_eq!(st["step_status"]["ddl_generation"], "completed");
}

fn runner(db: &TestDb, id: &str) -> Runner {
    let mut cfg = RunnerConfig::new(id, &db.url);
    cfg.retry_base = Duration::from_millis(100);
    cfg.poll_interval = Duration::from_millis(100);
    Runner::new(cfg, db.pool())
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_jobs_retry_with_backoff_then_give_up() {
    let db = TestDb::new();
    let calls = Arc::new(AtomicI32::new(0));
    let times = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let (c, t) = (calls.clone(), times.clone());
    let r = runner(&db, "w1")
        .register("flaky", move |ctx: JobContext| {
            let (c, t) = (c.clone(), t.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                t.lock().unwrap().push(Instant::now());
                if ctx.job.attempts < 3 {
                    Err(anyhow::anyhow!("attempt {} fails", ctx.job.attempts))
                } else {
                    Ok(())
                }
            }
        })
        .register("broken", |_ctx: JobContext| async {
            // The cause chain is kept, outermost first.
            let cause = std::io::Error::other("disk full");
            Err::<(), _>(anyhow::Error::new(cause).context("always broken"))
        });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(r.run(rx));
    {
        let mut conn = db.conn();
        jobs::enqueue(&mut conn, &NewJob::new("flaky", json!({}))).unwrap();
        jobs::enqueue(&mut conn, &NewJob::new("broken", json!({})).max_attempts(2)).unwrap();
    }
    eventually(
        Duration::from_secs(20),
        "flaky done and broken failed",
        || async {
            let rows = job_rows(&db);
            (rows.len() == 1 && rows[0].0 == "failed").then_some(())
        },
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let t = times.lock().unwrap().clone();
    // Backoff doubles: ≥100 ms before the 2nd attempt, ≥200 ms before the 3rd.
    assert!(
        t[1] - t[0] >= Duration::from_millis(100),
        "{:?}",
        t[1] - t[0]
    );
    assert!(
        t[2] - t[1] >= Duration::from_millis(200),
        "{:?}",
        t[2] - t[1]
    );
    let rows = job_rows(&db);
    assert_eq!(rows[0].1, 2);
    assert_eq!(rows[0].2.as_deref(), Some("always broken: disk full"));
    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

/// A typed job: its payload as a struct, its name and attempts on the type.
struct Greet(tokio::sync::mpsc::UnboundedSender<String>);

#[derive(serde::Serialize, serde::Deserialize)]
struct Hello {
    name: String,
}

impl Job for Greet {
    const NAME: &'static str = "greet";
    const MAX_ATTEMPTS: i32 = 2;
    type Payload = Hello;

    fn run(&self, hello: Hello, _ctx: JobContext) -> BoxFuture<'static, JobResult> {
        let tx = self.0.clone();
        Box::pin(async move {
            tx.send(hello.name)?;
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_jobs_read_their_payload_and_a_bad_one_fails_clearly() {
    let db = TestDb::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The runner starts after the rows are written and read back: a running one
    // could finish (and delete) the good job before the test reads it.
    {
        let mut conn = db.conn();
        let id = Greet::enqueue(&mut conn, &Hello { name: "ada".into() }).unwrap();
        use bkdata_models::schema::background_jobs as j;
        let (ty, data, max): (String, serde_json::Value, i32) = j::table
            .find(id)
            .select((j::job_type, j::data, j::max_attempts))
            .first(&mut conn)
            .unwrap();
        assert_eq!(
            (ty.as_str(), data, max),
            ("greet", json!({"name": "ada"}), 2)
        );
        // A row whose data is not the payload (written by hand, or by an older version).
        jobs::enqueue(
            &mut conn,
            &NewJob::new("greet", json!({"nom": 1})).max_attempts(1),
        )
        .unwrap();
    }
    let r = runner(&db, "w-typed").job(Greet(tx));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(r.run(stopped));
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    assert_eq!(got.unwrap().as_deref(), Some("ada"));
    let failed = eventually(
        Duration::from_secs(20),
        "the bad payload failed",
        || async {
            let rows = job_rows(&db);
            (rows.len() == 1 && rows[0].0 == "failed").then(|| rows[0].2.clone())
        },
    )
    .await
    .unwrap_or_default();
    assert!(
        failed.contains("(greet): its payload {\"nom\":1} does not parse: missing field `name`"),
        "{failed}"
    );
    stop.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_wakes_an_idle_runner_long_before_the_poll() {
    let db = TestDb::new();
    let (tx_done, mut rx_done) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = RunnerConfig::new("w-notify", &db.url);
    cfg.poll_interval = Duration::from_secs(30);
    let r = Runner::new(cfg, db.pool()).register("ping", move |_ctx: JobContext| {
        let tx = tx_done.clone();
        async move {
            let _ = tx.send(Instant::now());
            Ok(())
        }
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(r.run(rx));
    // Wait for the listener: the first job may race it, so measure the second.
    let mut conn = db.conn();
    jobs::enqueue(&mut conn, &NewJob::new("ping", json!({}))).unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx_done.recv())
        .await
        .unwrap();
    let sent = Instant::now();
    jobs::enqueue(&mut conn, &NewJob::new("ping", json!({}))).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx_done.recv())
        .await
        .expect("woken by NOTIFY, not the 30 s poll")
        .unwrap();
    assert!(got - sent < Duration::from_secs(5));
    tx.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

#[test]
fn server_and_worker_refuse_an_unmigrated_database() {
    let db = TestDb::empty();
    for (bin, args) in [("bkdata-server", vec!["serve"]), ("bkdata-worker", vec![])] {
        let out = std::process::Command::new(workspace_bin(bin))
            .args(&args)
            .env("DATABASE_URL", &db.url)
            .env("BKDATA_LISTEN", "127.0.0.1:0")
            .env(
                "BKDATA_DATA_DIR",
                std::env::temp_dir().join("bkdata-unmigrated"),
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bin} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not migrated") && err.contains("bkdata-server migrate"),
            "{bin}: {err}"
        );
    }
    // `migrate` fixes it, and is idempotent.
    for _ in 0..2 {
        let out = std::process::Command::new(workspace_bin("bkdata-server"))
            .arg("migrate")
            .env("DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    bkdata_models::db::ensure_migrated(&db.url).unwrap();
    // `app create` prints the secret once; a second create refuses without --reset-secret.
    let out = std::process::Command::new(workspace_bin("bkdata-server"))
        .args(["app", "create", "cli-app"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("bk_app_secret="))
        .unwrap();
    assert_eq!(secret.len(), 64);
    let app = bkdata_models::auth::find_app(&mut db.conn(), "cli-app")
        .unwrap()
        .unwrap();
    assert!(app.verify(secret) && !app.verify("wrong"));
    assert!(!app.secret_hash.contains(secret));
    let out = std::process::Command::new(workspace_bin("bkdata-server"))
        .args(["app", "create", "cli-app"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_documents_every_route() {
    let srv = TestServer::start().await;
    let task = srv.create_task("openapi").await;
    let r = srv
        .client
        .get(srv.url("/openapi.json"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let mut n = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            n += 1;
            assert!(op["responses"].is_object() && op["summary"].is_string());
            let url = srv.url(
                &path
                    .replace("{task_id}", &task)
                    .replace("{file_name}", "task_config.json")
                    .replace("{id}", "1")
                    .replace("{nid}", "1")
                    .replace("{pid}", "2_x")
                    .replace("{rt}", "2_x")
                    .replace("{cluster_type}", "postgresql")
                    .replace("{name}", "nope")
                    .replace("{user}", "alice"),
            );
            assert!(!url.contains('{'), "unreplaced placeholder in {url}");
            let req = match method.as_str() {
                "get" => srv.client.get(&url),
                "post" => srv.client.post(&url).json(&json!({"days_to_keep": 30})),
                "delete" => srv.client.delete(&url),
                "put" => srv.client.put(&url).json(&json!({})),
                "patch" => srv.client.patch(&url).json(&json!({})),
                m => panic!("unexpected method {m}"),
            };
            let r = req
                .header("X-Bkapi-Authorization", srv.auth_header())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            // Routed: never the router's "no such endpoint" nor 405.
            assert!(
                !body.contains("no such endpoint") && status != 405,
                "{method} {path}: {status} {body}"
            );
        }
    }
    assert_eq!(n, bkdata_server::openapi::OPERATIONS.len());
    // Every route of the pipeline API is in the document.
    for p in [
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/execute",
        "/tasks/{task_id}/cancel",
        "/tasks/{task_id}/executions",
        "/tasks/{task_id}/logs",
        "/tasks/{task_id}/files",
        "/tasks/{task_id}/files/archive",
        "/tasks/{task_id}/files/integrity",
        "/tasks/{task_id}/files/download/{file_name}",
        "/tasks/{task_id}/files/{file_name}",
        "/files/cleanup",
        "/monitor/status",
        "/monitor/tasks/{task_id}",
        "/monitor/metrics/history",
        "/monitor/anomalies",
        "/stats",
    ] {
        assert!(
            paths.contains_key(&format!("/api/v0/data_pipeline{p}")),
            "{p} undocumented"
        );
    }
}

//! Seed 002's schema training-data workflow with the real steps (`bkdata-worker`) on a real
//! business database: the demo highway schema in a database of the test's own.
use bkdata_tests::*;
use serde_json::{json, Value};
use std::io::Read;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// The sync client runs a runtime of its own: use it inside `block_in_place`.
fn biz_client(db: &TestDb) -> postgres::Client {
    bkdata_training::catalog::connect(&db.url, "test business db").unwrap()
}

struct Setup {
    srv: TestServer,
    _worker: WorkerProc,
    biz: TestDb,
    _inputs: tempfile::TempDir,
}

async fn setup(extra_env: &[(&str, &str)]) -> Setup {
    // The sync postgres client runs its own runtime: off this one's worker threads.
    let biz_db = tokio::task::block_in_place(|| highway_db(30));
    let biz_url = biz_db.url.clone();
    let srv = TestServer::start_with(move |c| c.business_dbs = highway_registry(biz_url)).await;
    let inputs = tempfile::tempdir().unwrap();
    let tables = "# the seed's tables\npublic.bss_company\nbss_service_area\n\nbss_section_route\nbss_section_route_area_link\nbss_business_day_data  # daily figures\nbss_car_day_count\n";
    std::fs::write(inputs.path().join("tables.txt"), tables).unwrap();
    std::fs::write(inputs.path().join("empty.txt"), "# nothing\n\n").unwrap();
    std::fs::write(inputs.path().join("unknown.txt"), "bss_company\nbss_nope\n").unwrap();
    let bad_dbs = inputs.path().join("dbs.toml");
    std::fs::write(
        &bad_dbs,
        "[databases.down_db]\nurl = \"postgres://postgres:pw@127.0.0.1:1/down?connect_timeout=2\"\n",
    )
    .unwrap();
    let mut env = vec![
        ("BKDATA_APP_DB_URL", biz_db.url.as_str()),
        ("BKDATA_APP_DB_NAME", "highway_db"),
        ("BKDATA_PIPELINE_INPUT_DIR", inputs.path().to_str().unwrap()),
        ("BKDATA_BUSINESS_DBS_FILE", bad_dbs.to_str().unwrap()),
    ];
    env.extend_from_slice(extra_env);
    let worker = WorkerProc::spawn_bin("bkdata-worker", &srv.db.url, &srv.data_dir, &env);
    Setup {
        srv,
        _worker: worker,
        biz: biz_db,
        _inputs: inputs,
    }
}

async fn create(srv: &TestServer, body: Value) -> String {
    let (s, v) = srv.post("/tasks", body).await;
    assert_eq!(s, 201, "{v}");
    v["data"]["task_id"].as_str().unwrap().to_string()
}

/// Start an execution; its id.
async fn execute(srv: &TestServer, task: &str, body: Value) -> String {
    let (s, v) = srv.post(&format!("/tasks/{task}/execute"), body).await;
    assert_eq!(s, 202, "{v}");
    v["data"]["execution_id"].as_str().unwrap().to_string()
}

/// Run one step (again, if it ran before) and answer its result.
async fn run_step(srv: &TestServer, task: &str, step: &str) -> Value {
    let x = execute(
        srv,
        task,
        json!({"execution_mode": "step", "step_name": step}),
    )
    .await;
    let status = eventually(WAIT, &format!("{task} {step}"), || async {
        let (_, v) = srv.get(&format!("/tasks/{task}/executions")).await;
        v["data"]["executions"]
            .as_array()?
            .iter()
            .find(|e| e["execution_id"] == x.as_str())
            .map(|e| e["status"].as_str().unwrap_or("").to_string())
            .filter(|s| s == "completed" || s == "failed")
    })
    .await;
    assert_eq!(status, "completed", "{task} {step}");
    read_json(srv, task, &format!("{step}_result.json")).await["result"].clone()
}

async fn download(srv: &TestServer, task: &str, file: &str) -> Vec<u8> {
    let r = srv
        .client
        .get(srv.url(&format!(
            "/api/v0/data_pipeline/tasks/{task}/files/download/{file}"
        )))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{file}");
    r.bytes().await.unwrap().to_vec()
}

async fn read_json(srv: &TestServer, task: &str, file: &str) -> Value {
    serde_json::from_slice(&download(srv, task, file).await).unwrap()
}

fn training_rows(srv: &TestServer) -> i64 {
    use diesel::prelude::*;
    bkdata_models::schema::training_data::table
        .count()
        .get_result(&mut srv.db.conn())
        .unwrap()
}

fn seed_request() -> Value {
    json!({
        "table_list_file": "tables.txt",
        "business_context": "高速公路服务区管理系统",
        "db_name": "highway_db",
        "enable_sql_validation": true,
        "enable_llm_repair": true,
        "modify_original_file": true,
        "enable_training_data_load": true
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_example_runs_complete_and_each_step_alone() {
    let s = setup(&[]).await;
    let srv = &s.srv;
    let task = create(srv, seed_request()).await;
    execute(
        srv,
        &task,
        json!({"execution_mode": "complete", "force_execution": false, "clean_existing_files": true}),
    )
    .await;
    let v = srv.wait_status(&task, &["completed", "failed"], WAIT).await;
    assert_eq!(v["status"], "completed", "{v}");

    // Every file of the seed's task-folder listing is there, listed and in the archive.
    let (_, v) = srv.get(&format!("/tasks/{task}/files")).await;
    let listed: Vec<String> = v["data"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_name"].as_str().unwrap().to_string())
        .collect();
    let has = |pred: &dyn Fn(&str) -> bool, what: &str| {
        assert!(
            listed.iter().any(|f| pred(f)),
            "{what} missing from {listed:?}"
        )
    };
    for f in [
        "task_config.json",
        "task_result.json",
        "ddl_generation_result.json",
        "qa_generation_result.json",
        "sql_validation_result.json",
        "training_load_result.json",
        "metadata.txt",
        "filename_mapping.txt",
        "data_pipeline.log",
    ] {
        has(&|n| n == f, f);
    }
    for t in [
        "bss_company",
        "bss_service_area",
        "bss_section_route",
        "bss_section_route_area_link",
        "bss_business_day_data",
        "bss_car_day_count",
    ] {
        has(&|n| n == format!("{t}.ddl"), t);
        has(&|n| n == format!("{t}_detail.md"), t);
    }
    has(
        &|n| n.starts_with("qs_highway_db_") && n.ends_with("_pair.json"),
        "pair file",
    );
    has(
        &|n| n.starts_with("sql_validation_") && n.ends_with("_summary.log"),
        "summary",
    );
    has(
        &|n| n.starts_with("sql_validation_") && n.ends_with("_report.json"),
        "report",
    );
    for f in &listed {
        download(srv, &task, f).await;
    }
    let (_, v) = srv
        .post(
            &format!("/tasks/{task}/files/archive"),
            json!({"archive_format": "zip"}),
        )
        .await;
    let url = srv.url(v["data"]["download_url"].as_str().unwrap());
    let bytes = srv
        .client
        .get(url)
        .header("X-Bkapi-Authorization", srv.auth_header())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    for f in &listed {
        assert!(
            names.iter().any(|n| n.ends_with(f.as_str())),
            "{f} not in the archive {names:?}"
        );
    }
    let mut ddl = String::new();
    let i = names
        .iter()
        .position(|n| n.ends_with("bss_service_area.ddl"))
        .unwrap();
    zip.by_index(i).unwrap().read_to_string(&mut ddl).unwrap();
    assert!(
        ddl.contains("create table public.bss_service_area"),
        "{ddl}"
    );
    assert!(ddl.contains("references public.bss_company (id)"), "{ddl}");
    let md = String::from_utf8(download(srv, &task, "bss_service_area_detail.md").await).unwrap();
    assert!(md.contains("service_state 为枚举字段"), "{md}");
    assert!(md.contains("服务区名称"), "{md}");

    // Every pair that validation kept really runs on the business database.
    let pair_file = listed
        .iter()
        .find(|n| n.starts_with("qs_"))
        .unwrap()
        .clone();
    let pairs: Vec<Value> =
        serde_json::from_slice(&download(srv, &task, &pair_file).await).unwrap();
    assert!(pairs.len() >= 30, "{}", pairs.len());
    tokio::task::block_in_place(|| {
        let mut biz = biz_client(&s.biz);
        for p in &pairs {
            let q = p["question"].as_str().unwrap();
            assert!(bkdata_training::is_chinese(q), "{q}");
            biz.query(p["sql"].as_str().unwrap(), &[])
                .unwrap_or_else(|e| panic!("{q}: {}: {e}", p["sql"]));
        }
    });
    let report = read_json(srv, &task, "sql_validation_result.json").await["result"].clone();
    assert_eq!(report["invalid"], 0, "{report}");
    assert_eq!(report["total"].as_u64().unwrap() as usize, pairs.len());

    // The training store: a question close to a generated one finds that pair first.
    let loaded = read_json(srv, &task, "training_load_result.json").await["result"].clone();
    assert_eq!(loaded["already_present"], 0, "{loaded}");
    let rows = training_rows(srv);
    assert_eq!(rows, 12 + pairs.len() as i64);
    let target = pairs
        .iter()
        .find(|p| {
            p["question"]
                .as_str()
                .unwrap()
                .contains("每个服务区名称对应")
        })
        .unwrap_or(&pairs[5]);
    let question = target["question"].as_str().unwrap();
    let close = question.replace("是多少？", "").replace("？", "");
    let (st, v) = srv
        .get(&format!(
            "/training_data?q={}&type=sql&limit=3",
            urlencoding(&close)
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["items"][0]["question"], question, "{v}");
    assert_eq!(v["data"]["items"][0]["content"], target["sql"]);
    let (_, v) = srv
        .get(&format!(
            "/training_data?q={}&type=ddl",
            urlencoding("服务区 状态")
        ))
        .await;
    assert!(
        v["data"]["items"][0]["content"]
            .as_str()
            .unwrap()
            .contains("bss_service_area"),
        "{v}"
    );
    // The same search through the client and the command line.
    let client = srv.bkdata_client();
    let found = client
        .search_training_data(&close, Some("sql"), Some(3))
        .await
        .unwrap();
    assert_eq!(found.items[0].question.as_deref(), Some(question));
    let dbs = client.list_business_databases().await.unwrap();
    assert_eq!(dbs.databases[0].db_name, "highway_db");
    let out = tokio::process::Command::new(workspace_bin("bkdata"))
        .args([
            "--output", "json", "pipeline", "search", &close, "--type", "sql", "--limit", "1",
        ])
        .env("BKDATA_URL", &srv.base)
        .env("BKDATA_APP_CODE", &srv.app_code)
        .env("BKDATA_APP_SECRET", &srv.secret)
        .env("BKDATA_USERNAME", "alice")
        .env("BKDATA_CONFIG", "/nonexistent/bkdata.toml")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"][0]["question"], question, "{v}");
    // Another app sees none of it.
    let secret =
        bkdata_models::auth::create_app(&mut srv.db.conn(), "other-app", "", false).unwrap();
    let other = json!({"bk_app_code": "other-app", "bk_app_secret": secret, "bk_username": "x"});
    let (_, v) = srv
        .bk_as(
            &other.to_string(),
            reqwest::Method::GET,
            &format!(
                "/api/v0/data_pipeline/training_data?q={}",
                urlencoding(&close)
            ),
            None,
        )
        .await;
    assert_eq!(v["data"]["total"], 0, "{v}");
    let (st, v) = srv.get("/training_data?q=x&type=nope").await;
    assert_eq!(
        (st, v["error_type"].as_str()),
        (400, Some("validation_error")),
        "{v}"
    );
    let (st, _) = srv.get("/training_data?type=sql").await;
    assert_eq!(st, 400);
    // Business databases are listed without secrets.
    let (_, v) = srv.get("/databases").await;
    let dbs = v["data"]["databases"].as_array().unwrap();
    assert!(
        dbs.iter()
            .any(|d| d["db_name"] == "highway_db" && d["is_default"] == true),
        "{v}"
    );
    assert!(!v.to_string().contains("pw@"), "{v}");

    // Each step alone, in order, on a second task; the training load adds nothing new.
    let t2 = create(srv, seed_request()).await;
    let r = run_step(srv, &t2, "ddl_generation").await;
    assert_eq!(r["tables"].as_array().unwrap().len(), 6);
    let r = run_step(srv, &t2, "qa_generation").await;
    assert_eq!(r["source"], "schema");
    let pair_file = r["pair_file"].as_str().unwrap().to_string();
    // A deliberately broken pair is caught and, with modify_original_file, removed.
    let path = srv.data_dir.join(&t2).join(&pair_file);
    let mut pairs: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let n = pairs.len();
    pairs.push(json!({"question": "坏的问题", "sql": "SELECT no_such_column FROM bss_company"}));
    std::fs::write(&path, serde_json::to_vec(&pairs).unwrap()).unwrap();
    let r = run_step(srv, &t2, "sql_validation").await;
    assert_eq!(
        (r["invalid"].as_u64(), r["valid"].as_u64()),
        (Some(1), Some(n as u64)),
        "{r}"
    );
    assert_eq!(r["original_file_modified"], true);
    let report = read_json(srv, &t2, r["report_file"].as_str().unwrap()).await;
    let bad = &report["results"][n];
    assert_eq!(
        (bad["valid"].clone(), bad["repaired"].clone()),
        (json!(false), json!(false))
    );
    assert!(
        bad["error"].as_str().unwrap().contains("no_such_column"),
        "{bad}"
    );
    let kept: Vec<Value> = read_json(srv, &t2, &pair_file)
        .await
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(kept.len(), n);
    let backup: Vec<Value> = read_json(srv, &t2, &format!("{pair_file}.backup"))
        .await
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(backup.len(), n + 1);
    let before = training_rows(srv);
    let r = run_step(srv, &t2, "training_load").await;
    assert_eq!(r["inserted"], 0, "{r}");
    assert_eq!(training_rows(srv), before);
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_fail_the_step_and_load_nothing() {
    let s = setup(&[]).await;
    let srv = &s.srv;
    let cases = [
        ("missing.txt", "highway_db", "missing.txt"),
        (
            "unknown.txt",
            "highway_db",
            "public.bss_nope does not exist",
        ),
        ("tables.txt", "nope_db", "unknown db_name"),
        (
            "tables.txt",
            "down_db",
            "cannot connect to business database down_db",
        ),
        ("empty.txt", "highway_db", "lists no tables"),
    ];
    for (file, db, want) in cases {
        let mut body = seed_request();
        body["table_list_file"] = json!(file);
        body["db_name"] = json!(db);
        let task = create(srv, body).await;
        execute(srv, &task, json!({"execution_mode": "complete"})).await;
        let v = srv.wait_status(&task, &["completed", "failed"], WAIT).await;
        assert_eq!(v["status"], "failed", "{file} {db}: {v}");
        let steps = &v["step_status"];
        assert_eq!(steps["ddl_generation"], "failed", "{v}");
        for later in ["qa_generation", "sql_validation", "training_load"] {
            assert_eq!(steps[later], "pending", "{file} {db}: {v}");
        }
        let (_, logs) = srv.get(&format!("/tasks/{task}/logs?level=ERROR")).await;
        let text = logs.to_string();
        assert!(text.contains(want), "{file} {db}: want {want:?} in {logs}");
        assert!(!text.contains(":pw@"), "a secret in the log: {logs}");
        let log = String::from_utf8(download(srv, &task, "data_pipeline.log").await).unwrap();
        assert!(log.contains(want), "{want:?} not in the task log:\n{log}");
        assert!(!log.contains(":pw@"), "a secret in the task log:\n{log}");
    }
    assert_eq!(training_rows(srv), 0, "nothing half-loaded");
}

/// An OpenAI-compatible chat endpoint stand-in (no model can run here): it answers
/// qa_generation with three pairs, one broken, and repair requests with a fixed SQL; or, when
/// `fail`, HTTP 500. It records the requests' bearer keys.
async fn chat_stand_in(fail: bool) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::HeaderMap;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let seen = s2.clone();
            async move {
                seen.lock().unwrap().push(
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                );
                if fail {
                    return (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(json!({"error": {"message": "model overloaded"}})),
                    );
                }
                let system = body["messages"][0]["content"].as_str().unwrap_or("");
                let content = if system.contains("fix") {
                    "```sql\nSELECT COUNT(*) FROM bss_service_area\n```".to_string()
                } else {
                    format!(
                        "Here they are:\n{}",
                        json!([
                            {"question": "服务区一共有多少个？", "sql": "SELECT COUNT(*) FROM bss_service_area"},
                            {"question": "各公司的名称是什么？", "sql": "SELECT company_name FROM bss_company"},
                            {"question": "服务区数量（坏的）", "sql": "SELECT COUNT(*) FROM bss_service_areas"}
                        ])
                    )
                };
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"choices": [{"message": {"role": "assistant", "content": content}}]})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_language_model_generates_and_repairs_and_its_failure_falls_back() {
    let (url, seen) = chat_stand_in(false).await;
    let s = setup(&[("BKDATA_LLM_URL", &url), ("BKDATA_LLM_KEY", "sk-test")]).await;
    let srv = &s.srv;
    let task = create(srv, seed_request()).await;
    run_step(srv, &task, "ddl_generation").await;
    let r = run_step(srv, &task, "qa_generation").await;
    assert_eq!(
        (r["source"].as_str(), r["pairs"].as_u64()),
        (Some("llm"), Some(3)),
        "{r}"
    );
    let r = run_step(srv, &task, "sql_validation").await;
    assert_eq!(
        (
            r["valid"].as_u64(),
            r["repaired"].as_u64(),
            r["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(0)),
        "{r}"
    );
    let pairs = read_json(srv, &task, r["pair_file"].as_str().unwrap()).await;
    assert_eq!(
        pairs[2]["sql"], "SELECT COUNT(*) FROM bss_service_area",
        "{pairs}"
    );
    assert!(seen.lock().unwrap().iter().all(|a| a == "Bearer sk-test"));
    drop(s);

    // A failing endpoint: the step says so and the schema generator writes the pairs.
    let (url, _) = chat_stand_in(true).await;
    let s = setup(&[("BKDATA_LLM_URL", &url)]).await;
    let srv = &s.srv;
    let task = create(srv, seed_request()).await;
    run_step(srv, &task, "ddl_generation").await;
    let r = run_step(srv, &task, "qa_generation").await;
    assert_eq!(r["source"], "schema", "{r}");
    let (_, logs) = srv.get(&format!("/tasks/{task}/logs?level=WARNING")).await;
    assert!(logs.to_string().contains("model overloaded"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_list_uploaded_to_the_task_is_used() {
    let s = setup(&[]).await;
    let srv = &s.srv;
    let mut body = seed_request();
    body["table_list_file"] = json!("my_tables.txt");
    let task = create(srv, body).await;
    let upload = |ctype: &'static str, bytes: Vec<u8>| {
        let req = srv
            .client
            .post(srv.url(&format!(
                "/api/v0/data_pipeline/tasks/{task}/upload-table-list"
            )))
            .header("X-Bkapi-Authorization", srv.auth_header())
            .header("Content-Type", ctype)
            .body(bytes);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // Bad lists are refused whole.
    let (st, v) = upload("text/plain", b"bss_company\na.b.c\n".to_vec()).await;
    assert_eq!(
        (st, v["error_type"].as_str()),
        (400, Some("validation_error")),
        "{v}"
    );
    let (st, v) = upload("text/plain", b"# nothing\n".to_vec()).await;
    assert_eq!(st, 400, "{v}");
    // curl -F file=@my_tables.txt
    let multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"my_tables.txt\"\r\nContent-Type: text/plain\r\n\r\nbss_company\nbss_service_area\n\r\n--XyZ--\r\n".to_vec();
    let (st, v) = upload("multipart/form-data; boundary=XyZ", multipart).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (
            v["data"]["file_name"].as_str(),
            v["data"]["tables"].as_u64()
        ),
        (Some("my_tables.txt"), Some(2))
    );
    let r = run_step(srv, &task, "ddl_generation").await;
    let read: Vec<&str> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(read, ["bss_company", "bss_service_area"]);
    // The client's upload (a raw body) replaces it.
    let client = srv.bkdata_client();
    let up = client
        .upload_table_list(&task, "public.bss_car_day_count\n")
        .await
        .unwrap();
    assert_eq!((up.file_name.as_str(), up.tables), ("my_tables.txt", 1));
    let r = run_step(srv, &task, "ddl_generation").await;
    assert_eq!(r["tables"][0]["name"], "bss_car_day_count");
    // clean_existing_files (as the seed sends it) keeps the uploaded list: it is an input.
    execute(
        srv,
        &task,
        json!({"execution_mode": "complete", "clean_existing_files": true}),
    )
    .await;
    let v = srv.wait_status(&task, &["completed", "failed"], WAIT).await;
    assert_eq!(v["status"], "completed", "{v}");
    let (_, v) = srv.get(&format!("/tasks/{task}/files/integrity")).await;
    assert_eq!(v["data"]["all_valid"], true, "{v}");
    assert!(v.to_string().contains("my_tables.txt"), "{v}");
}

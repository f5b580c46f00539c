//! Bad input gets the right envelope and status, and touches nothing outside the task folder.
use bkdata_tests::*;
use serde_json::{json, Value};

fn assert_error(status: u16, v: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(v["code"], want_status, "{v}");
    assert_eq!(v["error_type"], want_type, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["details"].is_object(), "{v}");
}

async fn raw_post(srv: &TestServer, path: &str, body: &'static str) -> (u16, Value) {
    let r = srv
        .client
        .post(srv.api(path))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_pipeline_envelope() {
    let srv = TestServer::start().await;
    let task = srv.create_task("bad input").await;

    // Unknown step name, unknown mode, step mode without a step.
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "step", "step_name": "drop_tables"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");
    assert_eq!(v["details"]["valid_steps"][0], "ddl_generation");
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "sometimes"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "step"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");
    assert_eq!(v["details"]["field"], "step_name");

    // Malformed JSON; not an object; wrong types.
    let (s, v) = raw_post(&srv, "/tasks", "{\"table_list_file\": ").await;
    assert_error(s, &v, 400, "invalid_json");
    let (s, v) = raw_post(&srv, "/tasks", "[1,2]").await;
    assert_error(s, &v, 400, "validation_error");
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"force_execution": "yes"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");

    // Missing fields; empty body on create.
    let (s, v) = srv
        .post("/tasks", json!({"table_list_file": "tables.txt"}))
        .await;
    assert_error(s, &v, 400, "validation_error");
    assert_eq!(v["details"]["field"], "business_context");
    let (s, v) = raw_post(&srv, "/tasks", "").await;
    assert_error(s, &v, 400, "validation_error");
    let (s, v) = srv
        .post(
            "/tasks",
            json!({"table_list_file": "../../etc/passwd", "business_context": "x"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");
    let (s, v) = srv
        .post(
            "/tasks",
            json!({"table_list_file": "/etc/passwd", "business_context": "x"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");

    // Unknown task, on every task endpoint.
    for path in [
        "/tasks/task_19990101_000000",
        "/tasks/task_19990101_000000/executions",
        "/tasks/task_19990101_000000/logs",
        "/tasks/task_19990101_000000/files",
        "/tasks/task_19990101_000000/files/integrity",
        "/monitor/tasks/task_19990101_000000",
        "/tasks/task_19990101_000000/files/download/data_pipeline.log",
    ] {
        let (s, v) = srv.get(path).await;
        assert_error(s, &v, 404, "not_found");
    }
    let (s, v) = srv
        .post("/tasks/task_19990101_000000/execute", json!({}))
        .await;
    assert_error(s, &v, 404, "not_found");
    let (s, v) = srv.get("/tasks/..%2F..%2Fetc").await;
    assert_error(s, &v, 404, "not_found");

    // Bad query params.
    for path in [
        "/tasks?limit=abc",
        "/tasks?limit=0",
        "/tasks?status=done",
        &format!("/tasks/{task}/logs?level=LOUD"),
        "/monitor/metrics/history?minutes=-5",
        "/monitor/anomalies?hours=x",
    ] {
        let (s, v) = srv.get(path).await;
        assert_error(s, &v, 400, "validation_error");
    }
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/files/archive"),
            json!({"archive_format": "rar"}),
        )
        .await;
    assert_error(s, &v, 400, "validation_error");
    let (s, v) = srv
        .post("/files/cleanup", json!({"days_to_keep": -1}))
        .await;
    assert_error(s, &v, 400, "validation_error");

    // Dependency order: qa_generation before ddl_generation, unless forced.
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "step", "step_name": "qa_generation"}),
        )
        .await;
    assert_error(s, &v, 400, "dependency_error");
    assert_eq!(v["details"]["missing_steps"], json!(["ddl_generation"]));

    // Unknown endpoint.
    let (s, v) = srv.get("/nope").await;
    assert_error(s, &v, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn path_traversal_never_leaves_the_task_folder() {
    let srv = TestServer::start().await;
    let task = srv.create_task("traversal").await;
    // Files outside the task folder that a traversal would reach.
    let secret_in_root = srv.data_dir.join("secret.txt");
    std::fs::write(&secret_in_root, "root secret").unwrap();
    let secret_outside = srv.root.path().join("outside.txt");
    std::fs::write(&secret_outside, "outside secret").unwrap();
    let other = srv.create_task("other task").await;
    std::fs::write(srv.data_dir.join(&other).join("private.json"), "{}").unwrap();
    let listing_before: Vec<_> = walk(srv.root.path());

    let attempts = [
        "..%2Fsecret.txt".to_string(),
        "..%2F..%2Foutside.txt".to_string(),
        "%2E%2E%2Fsecret.txt".to_string(),
        "%2e%2e%2f%2e%2e%2foutside.txt".to_string(),
        format!("..%2F{other}%2Fprivate.json"),
        urlencode(&secret_outside.display().to_string()),
        "..".to_string(),
        "%2e%2e".to_string(),
        "..%5Csecret.txt".to_string(),
        ".hidden".to_string(),
        "secret.txt%00.json".to_string(),
    ];
    for name in &attempts {
        for prefix in ["files/download", "files"] {
            let url = format!("{}/{name}", srv.api(&format!("/tasks/{task}/{prefix}")));
            let r = srv
                .client
                .get(&url)
                .header("X-Bkapi-Authorization", srv.auth_header())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert!(
                status == 400 || status == 404,
                "{url} answered {status}: {body}"
            );
            assert!(
                !body.contains("root secret") && !body.contains("outside secret"),
                "{url} leaked: {body}"
            );
            let v: Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{url} answered non-JSON {body}"));
            assert_eq!(v["success"], false);
        }
    }
    // A symlink planted in the task folder is not followed.
    std::os::unix::fs::symlink(&secret_outside, srv.data_dir.join(&task).join("link.txt")).unwrap();
    let (s, v) = srv
        .get(&format!("/tasks/{task}/files/download/link.txt"))
        .await;
    assert_eq!(s, 404, "{v}");
    std::fs::remove_file(srv.data_dir.join(&task).join("link.txt")).unwrap();

    // Nothing outside the task folder changed.
    assert_eq!(
        std::fs::read_to_string(&secret_in_root).unwrap(),
        "root secret"
    );
    assert_eq!(
        std::fs::read_to_string(&secret_outside).unwrap(),
        "outside secret"
    );
    assert_eq!(walk(srv.root.path()), listing_before);
}

fn walk(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if !e.file_name().to_string_lossy().ends_with(".log") {
                out.push((e.path().display().to_string(), m.len()));
            }
        }
    }
    out.sort();
    out
}

fn urlencode(s: &str) -> String {
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
async fn oversize_bodies_are_refused_and_nothing_is_created() {
    let srv = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let big = "x".repeat(10_000);
    let r = srv
        .client
        .post(srv.api("/tasks"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .json(&json!({"table_list_file": "t.txt", "business_context": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_error(413, &v, 413, "payload_too_large");
    assert_eq!(v["details"]["max_body_bytes"], 4096);
    // Chunked (no Content-Length) is cut off the same way.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b'{'; 3000]), Ok(vec![b' '; 3000])];
    let stream = futures_util::stream::iter(chunks);
    let r = srv
        .client
        .post(srv.api("/tasks"))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (_, v) = srv.get("/tasks").await;
    assert_eq!(v["data"]["total"], 0);
    assert_eq!(std::fs::read_dir(&srv.data_dir).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_requires_credentials() {
    let srv = TestServer::start().await;
    let task = srv.create_task("auth").await;
    let wrong =
        json!({"bk_app_code": srv.app_code, "bk_app_secret": "0".repeat(64), "bk_username": "x"})
            .to_string();
    let unknown = json!({"bk_app_code": "nobody", "bk_app_secret": srv.secret, "bk_username": "x"})
        .to_string();
    let no_user = json!({"bk_app_code": srv.app_code, "bk_app_secret": srv.secret}).to_string();
    for op in bkdata_server::openapi::OPERATIONS {
        let path = op
            .path
            .replace("{task_id}", &task)
            .replace("{file_name}", "data_pipeline.log")
            .replace("{id}", "1")
            .replace("{nid}", "1")
            .replace("{pid}", "2_x")
            .replace("{rt}", "2_x")
            .replace("{cluster_type}", "postgresql")
            .replace("{name}", "nope")
            .replace("{user}", "alice");
        assert!(!path.contains('{'), "unreplaced placeholder in {path}");
        let open = path == "/healthz" || path == "/metrics";
        for header in [
            None,
            Some(wrong.as_str()),
            Some(unknown.as_str()),
            Some(no_user.as_str()),
            Some("not json"),
        ] {
            let mut req = match op.method {
                "get" => srv.client.get(srv.url(&path)),
                "delete" => srv.client.delete(srv.url(&path)),
                "put" => srv.client.put(srv.url(&path)).json(&json!({})),
                "patch" => srv.client.patch(srv.url(&path)).json(&json!({})),
                _ => srv.client.post(srv.url(&path)).json(&json!({})),
            };
            if let Some(h) = header {
                req = req.header("X-Bkapi-Authorization", h);
            }
            let r = req.send().await.unwrap();
            if open {
                assert_eq!(r.status(), 200, "{path} should be open");
                continue;
            }
            assert_eq!(r.status(), 401, "{} {path} with {header:?}", op.method);
            let v: Value = r.json().await.unwrap();
            if path.starts_with("/api/") {
                assert_error(401, &v, 401, "authentication_error");
            } else {
                assert_eq!(
                    (v["result"].clone(), v["code"].clone()),
                    (json!(false), json!("1511401")),
                    "{v}"
                );
            }
        }
    }
    // BKData paths answer auth errors in the BKData envelope.
    let r = srv
        .client
        .get(srv.url("/v3/databus/cleans/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"], false);
    assert_eq!(v["code"], "1511401");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_sees_only_its_own_tasks() {
    let srv = TestServer::start().await;
    let task = srv.create_task("mine").await;
    let other_secret = {
        let mut c = srv.db.conn();
        bkdata_models::auth::create_app(&mut c, "other-app", "", false).unwrap()
    };
    let other =
        json!({"bk_app_code": "other-app", "bk_app_secret": other_secret, "bk_username": "eve"})
            .to_string();
    for path in [
        format!("/tasks/{task}"),
        format!("/tasks/{task}/logs"),
        format!("/tasks/{task}/files"),
        format!("/tasks/{task}/files/download/task_config.json"),
        format!("/monitor/tasks/{task}"),
    ] {
        let r = srv
            .client
            .get(srv.api(&path))
            .header("X-Bkapi-Authorization", &other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = srv
        .client
        .post(srv.api(&format!("/tasks/{task}/execute")))
        .header("X-Bkapi-Authorization", &other)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = srv
        .client
        .get(srv.api("/tasks"))
        .header("X-Bkapi-Authorization", &other)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["total"], 0);
    let r = srv
        .client
        .post(srv.api("/files/cleanup"))
        .header("X-Bkapi-Authorization", &other)
        .json(&json!({"days_to_keep": 0}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["cleaned_tasks"], json!([]));
    assert!(srv.data_dir.join(&task).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn second_execution_while_one_is_live_is_409() {
    let srv = TestServer::start().await;
    let task = srv.create_task("conflict").await;
    // No worker runs, so the first execution stays pending.
    let (s, _) = srv.post(&format!("/tasks/{task}/execute"), json!({})).await;
    assert_eq!(s, 202);
    let (s, v) = srv.post(&format!("/tasks/{task}/execute"), json!({"execution_mode": "step", "step_name": "ddl_generation", "force_execution": true})).await;
    assert_error(s, &v, 409, "conflict");
    assert_eq!(v["details"]["execution"]["status"], "pending");
    // Cancel the pending one; then a new execution is accepted.
    let (s, v) = srv.post(&format!("/tasks/{task}/cancel"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["status"], "cancelled");
    let (s, v) = srv.post(&format!("/tasks/{task}/cancel"), json!({})).await;
    assert_error(s, &v, 400, "validation_error");
    let (s, _) = srv.post(&format!("/tasks/{task}/execute"), json!({})).await;
    assert_eq!(s, 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_down_is_503() {
    let srv = TestServer::start().await;
    let task = srv.create_task("db down").await;
    // Kill the server's connections and forbid new ones: the database is "down" for it.
    {
        use diesel::RunQueryDsl;
        let mut admin = bkdata_models::db::connect(&format!("{}/postgres", pg_base())).unwrap();
        diesel::sql_query(format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
            srv.db.name
        ))
        .execute(&mut admin)
        .unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            srv.db.name
        ))
        .execute(&mut admin)
        .unwrap();
    }
    let (s, v) = srv.get(&format!("/tasks/{task}/executions")).await;
    assert!(s == 503, "{s} {v}");
    assert_error(s, &v, 503, "service_unavailable");
    let r = srv.client.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    {
        use diesel::RunQueryDsl;
        let mut admin = bkdata_models::db::connect(&format!("{}/postgres", pg_base())).unwrap();
        diesel::sql_query(format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
            srv.db.name
        ))
        .execute(&mut admin)
        .unwrap();
    }
    let v = eventually(std::time::Duration::from_secs(20), "recovery", || async {
        let (s, v) = srv.get(&format!("/tasks/{task}")).await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(v["data"]["task_id"], task.as_str());
}

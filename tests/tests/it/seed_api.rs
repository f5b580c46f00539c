//! Every curl example of seed 002, as written there, with only host and credentials added.
use bkdata_tests::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn seed_002_examples_work_as_written() {
    let srv = TestServer::start().await;
    let _worker = srv.worker(&[]);

    // 1. 创建任务
    let (s, v) = srv
        .post(
            "/tasks",
            json!({
                "table_list_file": "tables.txt",
                "business_context": "高速公路服务区管理系统",
                "db_name": "highway_db",
                "enable_sql_validation": true,
                "enable_llm_repair": true,
                "modify_original_file": true,
                "enable_training_data_load": true
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["code"], 201);
    assert_eq!(v["message"], "任务创建成功");
    assert_eq!(v["data"]["status"], "pending");
    let task = v["data"]["task_id"].as_str().unwrap().to_string();
    assert!(
        task.starts_with("task_") && task.len() >= "task_20250627_143052".len(),
        "{task}"
    );
    assert!(v["data"]["created_at"].as_str().unwrap().contains('T'));
    assert!(srv.data_dir.join(&task).join("task_config.json").is_file());
    assert!(srv.data_dir.join(&task).join("data_pipeline.log").is_file());

    // 单步执行 ddl_generation first: the step example of the seed.
    let (s, v) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "step", "step_name": "ddl_generation"}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["message"], "任务执行已启动");
    assert_eq!(v["data"]["execution_mode"], "step");
    assert_eq!(v["data"]["step_name"], "ddl_generation");
    assert_eq!(v["data"]["status"], "running");
    let st = srv
        .wait_status(&task, &["partial_completed", "failed"], WAIT)
        .await;
    assert_eq!(st["status"], "partial_completed", "{st}");
    assert_eq!(st["step_status"]["ddl_generation"], "completed");
    assert_eq!(st["step_status"]["qa_generation"], "pending");

    // 完整工作流执行
    let (s, v) = srv
        .post(&format!("/tasks/{task}/execute"), json!({"execution_mode": "complete", "force_execution": false, "clean_existing_files": true}))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["data"]["execution_mode"], "complete");
    let st = srv.wait_status(&task, &["completed", "failed"], WAIT).await;
    assert_eq!(st["status"], "completed", "{st}");
    for step in [
        "ddl_generation",
        "qa_generation",
        "sql_validation",
        "training_load",
    ] {
        assert_eq!(st["step_status"][step], "completed", "{st}");
    }
    // 3. 查询任务状态: step_status and current_execution.
    assert_eq!(st["current_execution"]["status"], "completed");
    assert!(st["current_execution"]["execution_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{task}_complete_exec_")));

    // 4. 获取任务列表
    let (s, v) = srv.get("/tasks?limit=10&status=completed").await;
    assert_eq!(s, 200);
    let tasks = v["data"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["task_id"], task.as_str());
    let (_, v) = srv.get("/tasks?limit=10&status=pending").await;
    assert_eq!(v["data"]["tasks"].as_array().unwrap().len(), 0);

    // 执行记录
    let (s, v) = srv.get(&format!("/tasks/{task}/executions")).await;
    assert_eq!(s, 200);
    let ex = v["data"]["executions"].as_array().unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1]["execution_step"], "ddl_generation");
    assert!(ex[1]["execution_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{task}_step_ddl_generation_exec_")));
    assert!(ex
        .iter()
        .all(|e| e["status"] == "completed" && e["completed_at"].is_string()));

    // 查看任务日志（数据库日志）
    let (s, v) = srv
        .get(&format!("/tasks/{task}/logs?limit=50&level=ERROR"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["logs"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = srv.get(&format!("/tasks/{task}/logs?limit=50")).await;
    let logs = v["data"]["logs"].as_array().unwrap();
    assert!(
        logs.iter()
            .any(|l| l["message"] == "开始执行步骤: qa_generation"
                && l["step_name"] == "qa_generation"),
        "{v}"
    );
    assert!(logs
        .iter()
        .all(|l| l["id"].is_i64() && l["timestamp"].is_string() && l["level"].is_string()));
    let file_log =
        std::fs::read_to_string(srv.data_dir.join(&task).join("data_pipeline.log")).unwrap();
    assert!(
        file_log.contains(&format!(
            "[INFO] TaskDir_{task}: [qa_generation] 开始执行步骤: qa_generation"
        )),
        "{file_log}"
    );

    // 1. 获取输出文件列表
    let (s, v) = srv.get(&format!("/tasks/{task}/files")).await;
    assert_eq!(s, 200);
    let files = v["data"]["files"].as_array().unwrap();
    let names: Vec<&str> = files
        .iter()
        .map(|f| f["file_name"].as_str().unwrap())
        .collect();
    for want in [
        "data_pipeline.log",
        "task_config.json",
        "task_result.json",
        "qa_generation.out",
        "ddl_generation_result.json",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let log_entry = files
        .iter()
        .find(|f| f["file_name"] == "data_pipeline.log")
        .unwrap();
    assert_eq!(log_entry["file_type"], "log");
    assert_eq!(
        log_entry["download_url"],
        format!("/api/v0/data_pipeline/tasks/{task}/files/download/data_pipeline.log")
    );
    assert!(log_entry["file_size"].as_u64().unwrap() > 0);
    // clean_existing_files removed the step-mode run's marker and the complete run wrote it again.
    let runs =
        std::fs::read_to_string(srv.data_dir.join(&task).join("ddl_generation.runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "{runs}");

    // 2. 下载任务文件: the short form of the example and the download_url form.
    std::fs::write(
        srv.data_dir
            .join(&task)
            .join("qs_highway_db_20250627_143052_pair.json"),
        b"[{\"question\":\"q\",\"sql\":\"select 1\"}]",
    )
    .unwrap();
    for path in [
        format!("/tasks/{task}/files/qs_highway_db_20250627_143052_pair.json"),
        format!("/tasks/{task}/files/download/qs_highway_db_20250627_143052_pair.json"),
    ] {
        let r = srv
            .client
            .get(srv.api(&path))
            .header("X-Bkapi-Authorization", srv.auth_header())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            b"[{\"question\":\"q\",\"sql\":\"select 1\"}]"
        );
    }

    // 3. 创建任务压缩包 (zip, then tar.gz), downloadable.
    for fmt in ["zip", "tar.gz"] {
        let (s, v) = srv
            .post(
                &format!("/tasks/{task}/files/archive"),
                json!({"archive_format": fmt}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["data"]["archive_format"], fmt);
        assert!(v["data"]["file_count"].as_u64().unwrap() >= 8, "{v}");
        let url = srv.url(v["data"]["download_url"].as_str().unwrap());
        let r = srv
            .client
            .get(url)
            .header("X-Bkapi-Authorization", srv.auth_header())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        assert_eq!(
            bytes.len() as u64,
            v["data"]["archive_size"].as_u64().unwrap()
        );
        let magic: &[u8] = if fmt == "zip" { b"PK" } else { &[0x1f, 0x8b] };
        assert!(bytes.starts_with(magic));
    }

    // 4. 验证文件完整性: recorded outputs match; a tampered output shows as modified.
    let (s, v) = srv.get(&format!("/tasks/{task}/files/integrity")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["all_valid"], true, "{v}");
    let out = v["data"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_name"] == "qa_generation.out")
        .unwrap()
        .clone();
    assert_eq!(out["status"], "ok");
    assert_eq!(out["sha256"].as_str().unwrap().len(), 64);
    std::fs::write(
        srv.data_dir.join(&task).join("qa_generation.out"),
        b"tampered",
    )
    .unwrap();
    let (_, v) = srv.get(&format!("/tasks/{task}/files/integrity")).await;
    assert_eq!(v["data"]["all_valid"], false);
    let out = v["data"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_name"] == "qa_generation.out")
        .unwrap()
        .clone();
    assert_eq!(out["status"], "modified");

    // 监控: status, per-task, history (sampled by the worker), anomalies, stats.
    let (s, v) = srv.get("/monitor/status").await;
    assert_eq!(s, 200);
    let d = &v["data"];
    for k in ["cpu_percent", "memory_percent", "disk_percent"] {
        assert!(d["system"][k].is_f64(), "{k}: {d}");
    }
    assert_eq!(d["tasks"]["completed"], 1);
    assert_eq!(d["health"]["workers_alive"], 1, "{d}");
    // Healthy, unless the machine's disk is nearly full, which the status must then say.
    if d["system"]["disk_percent"].as_f64().unwrap() >= 90.0 {
        assert_eq!(d["health"]["status"], "critical", "{d}");
        assert!(d["health"]["issues"].to_string().contains("disk"), "{d}");
    } else {
        assert_eq!(d["health"]["status"], "healthy", "{d}");
    }
    let (s, v) = srv.get(&format!("/monitor/tasks/{task}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["executions"]["total"], 2);
    assert!(v["data"]["logs"]["INFO"].as_i64().unwrap() > 5);
    let history = eventually(WAIT, "a metrics sample", || async {
        let (_, v) = srv.get("/monitor/metrics/history?minutes=120").await;
        (v["data"]["count"].as_u64().unwrap_or(0) > 0).then_some(v)
    })
    .await;
    assert!(history["data"]["metrics"][0]["cpu_percent"].is_number());
    assert_eq!(history["data"]["minutes"], 120);
    let (s, v) = srv.get("/monitor/anomalies?hours=24").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["hours"], 24);
    // 故障排除: the same calls without parameters.
    let (s, v) = srv.get("/monitor/anomalies").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["hours"], 24);
    let (s, v) = srv.get(&format!("/tasks/{task}/logs?level=ERROR")).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["total"], 0);
    let (s, v) = srv.get("/stats").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["tasks"]["total"], 1);
    assert_eq!(v["data"]["executions"]["completed"], 2);
    assert_eq!(v["data"]["success_rate"], 1.0);

    // 5. 清理旧文件: the task is new, so 30 days keeps it; 0 days removes its folder.
    let (s, v) = srv
        .post("/files/cleanup", json!({"days_to_keep": 30}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["cleaned_tasks"].as_array().unwrap().len(), 0);
    assert!(srv.data_dir.join(&task).exists());
    let (s, v) = srv.post("/files/cleanup", json!({"days_to_keep": 0})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["cleaned_tasks"], json!([task]));
    assert!(v["data"]["freed_bytes"].as_u64().unwrap() > 0);
    assert!(!srv.data_dir.join(&task).exists());
    // The task record and its DB logs stay.
    let (s, _) = srv.get(&format!("/tasks/{task}/logs")).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_params_and_body_as_bklog_sends_them() {
    let srv = TestServer::start().await;
    // Query params (GET) …
    let url = format!(
        "{}?bk_app_code={}&bk_app_secret={}&bk_username=alice",
        srv.api("/tasks"),
        srv.app_code,
        srv.secret
    );
    let r = srv.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // … and JSON body fields (POST, as seed 004 does).
    let r = srv
        .client
        .post(srv.api("/tasks"))
        .json(&json!({"bk_app_code": srv.app_code, "bk_app_secret": srv.secret, "bk_username": "bob",
                      "bkdata_authentication_method": "user", "table_list_file": "t.txt", "business_context": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    let task = v["data"]["task_id"].as_str().unwrap();
    let (_, st) = srv.get(&format!("/tasks/{task}")).await;
    assert_eq!(st["data"]["created_by"], "bob");
    // Secrets sent in the body are not stored with the task.
    assert!(st["data"]["parameters"].get("bk_app_secret").is_none());
    // X-Bk-App-Code / X-Bk-App-Secret headers with bk_username in params.
    let r = srv
        .client
        .get(format!("{}?bk_username=carol", srv.api("/stats")))
        .header("X-Bk-App-Code", &srv.app_code)
        .header("X-Bk-App-Secret", &srv.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

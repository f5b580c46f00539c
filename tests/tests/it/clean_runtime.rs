//! A running clean, end to end on real JetStream: ingest over HTTP → a worker cleans →
//! rows on the result table's topic; bad records counted and sampled; stop.
use bkdata_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn call(srv: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    srv.bk(method, path, body).await.1
}

/// POST records to a raw data's ingest endpoint; must be accepted.
async fn ingest(srv: &TestServer, raw_id: i64, body: impl Into<reqwest::Body>) {
    let r = srv
        .client
        .post(srv.url(&format!("/v3/databus/rawdatas/{raw_id}/ingest/")))
        .header("X-Bkapi-Authorization", srv.auth_header())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
}

fn config() -> String {
    json!({
        "extract": {"type": "fun", "method": "from_json", "label": "j",
            "next": {"type": "assign", "subtype": "assign_obj", "label": "fields", "assign": [
                {"key": "level", "assign_to": "level", "type": "string"},
                {"key": "code", "assign_to": "code", "type": "int"},
                {"key": "ts", "assign_to": "ts", "type": "long"}]}},
        "conf": {"time_field_name": "ts", "timestamp_len": 13, "timezone": 8, "output_field_name": "timestamp"}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_clean_and_stop() {
    let srv = TestServer::start_with(|c| {
        c.nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    })
    .await;
    let _worker = srv.worker(&[]);
    let raw = call(
        &srv,
        reqwest::Method::POST,
        "/v3/access/rawdata/",
        Some(json!({"bk_biz_id": 2, "raw_data_name": "app"})),
    )
    .await;
    let raw_id = raw["data"]["raw_data_id"].as_i64().unwrap();
    let clean = call(&srv, reqwest::Method::POST, "/v3/databus/cleans/", Some(json!({
        "raw_data_id": raw_id, "result_table_name": "app_clean", "json_config": config(),
        "fields": [{"field_name": "level", "field_type": "string"}, {"field_name": "code", "field_type": "int"}, {"field_name": "timestamp", "field_type": "long"}]
    })))
    .await;
    assert_eq!(clean["result"], true, "{clean}");
    // Records ingested before the start are cleaned too (the clean reads from the start).
    let first: String = (0..500)
        .map(|i| {
            format!(
                "{{\"level\": \"INFO\", \"code\": {i}, \"ts\": {}}}\n",
                1_795_329_052_000i64 + i
            )
        })
        .collect();
    ingest(&srv, raw_id, first).await;
    let started = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/2_app_clean/start/",
        None,
    )
    .await;
    assert_eq!(started["data"]["status"], "started", "{started}");
    // More good records, and bad ones: broken JSON, a wrong type, a time that is no number.
    let mut second: Vec<String> = (500..1000)
        .map(|i| {
            format!(
                "{{\"level\": \"WARN\", \"code\": {i}, \"ts\": {}}}",
                1_795_329_052_000i64 + i
            )
        })
        .collect();
    second.extend([
        "{broken".to_string(),
        "{\"level\": \"x\", \"code\": \"five\", \"ts\": 1}".to_string(),
        "{\"level\": \"x\", \"code\": 1, \"ts\": \"soon\"}".to_string(),
    ]);
    ingest(&srv, raw_id, second.join("\n")).await;

    let c = eventually(Duration::from_secs(60), "1003 records cleaned", || async {
        let v = call(
            &srv,
            reqwest::Method::GET,
            "/v3/databus/cleans/2_app_clean/",
            None,
        )
        .await;
        (v["data"]["records_in"] == 1003).then_some(v)
    })
    .await;
    // "five" fails its int cast: BKData keeps that row (code null) and counts the record bad.
    assert_eq!(c["data"]["rows_out"], 1001, "{c}");
    assert_eq!(c["data"]["errors_total"], 3);
    assert!(
        c["data"]["status_message"]
            .as_str()
            .unwrap()
            .contains("running on worker"),
        "{c}"
    );

    // The result table's rows, typed, with the time columns.
    let tail = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/result_tables/2_app_clean/tail/?limit=2",
        None,
    )
    .await;
    let rows = tail["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{tail}");
    assert_eq!(rows[0]["code"], 999, "{tail}");
    assert_eq!(rows[0]["level"], "WARN");
    assert_eq!(rows[0]["dtEventTimeStamp"], 1_795_329_052_999i64);
    assert_eq!(rows[0]["timestamp"], 1_795_329_052i64);
    // The record whose code failed its cast: kept, the field null.
    assert_eq!(
        (rows[1]["level"].clone(), rows[1]["code"].clone()),
        (json!("x"), Value::Null),
        "{tail}"
    );

    // The bad records, with BKData's error names.
    let errors = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/cleans/list_errors/?processing_id=2_app_clean",
        None,
    )
    .await;
    let names: Vec<&str> = errors["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{errors}");
    let mut sorted = names.clone();
    sorted.sort();
    // "ts": "soon" fails its long type at the assign node, before any time parsing.
    assert_eq!(
        sorted,
        [
            "BadJsonObjectError",
            "TypeConversionError",
            "TypeConversionError"
        ]
    );
    assert!(errors["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["raw_record"] == "{broken"));

    // Stop: the runtime ends and its job leaves the queue.
    let stopped = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/2_app_clean/stop/",
        None,
    )
    .await;
    assert_eq!(stopped["data"]["status"], "stopped");
    eventually(Duration::from_secs(30), "the clean job to end", || async {
        use bkdata_models::schema::background_jobs as j;
        use diesel::prelude::*;
        let n: i64 = j::table
            .filter(j::job_type.eq("clean_run"))
            .count()
            .get_result(&mut srv.db.conn())
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    let v = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/cleans/2_app_clean/",
        None,
    )
    .await;
    assert_eq!(v["data"]["status"], "stopped");
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_clean_loses_and_duplicates_nothing() {
    use bkdata_bus::{Bus, Consumer, ConsumerOpts};
    let srv = TestServer::start_with(|c| {
        c.nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
    })
    .await;
    let lease = [("BKDATA_JOB_LEASE_MS", "1500")];
    let a = srv.worker(&lease);
    let raw = call(
        &srv,
        reqwest::Method::POST,
        "/v3/access/rawdata/",
        Some(json!({"bk_biz_id": 2, "raw_data_name": "bulk"})),
    )
    .await;
    let raw_id = raw["data"]["raw_data_id"].as_i64().unwrap();
    call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/",
        Some(json!({
            "raw_data_id": raw_id, "result_table_name": "bulk_clean", "json_config": config(),
            "fields": [{"field_name": "code", "field_type": "int"}]
        })),
    )
    .await;
    call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/2_bulk_clean/start/",
        None,
    )
    .await;
    const TOTAL: i64 = 40_000;
    for part in 0..4 {
        let body: String = (part * 10_000..(part + 1) * 10_000)
            .map(|i| format!("{{\"level\": \"I\", \"code\": {i}, \"ts\": 1795329052000}}\n"))
            .collect();
        ingest(&srv, raw_id, body).await;
    }
    // Kill the worker while it is partway through.
    eventually(
        Duration::from_secs(60),
        "the clean to be partway",
        || async {
            let v = call(
                &srv,
                reqwest::Method::GET,
                "/v3/databus/cleans/2_bulk_clean/",
                None,
            )
            .await;
            (v["data"]["records_in"].as_i64().unwrap_or(0) > 0).then_some(())
        },
    )
    .await;
    a.signal(libc::SIGKILL);
    drop(a);
    let _b = srv.worker(&lease);

    // Every record becomes exactly one row on the result table's topic.
    let mut reader = srv
        .bus
        .consumer("rt.2_bulk_clean", "verify", ConsumerOpts::default())
        .await
        .unwrap();
    let mut seen = vec![0u32; TOTAL as usize];
    let mut rows = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while rows < TOTAL && std::time::Instant::now() < deadline {
        for d in reader.fetch(64, Duration::from_millis(500)).await.unwrap() {
            for r in &d.records {
                let v: Value = serde_json::from_slice(r).unwrap();
                seen[v["code"].as_i64().unwrap() as usize] += 1;
                rows += 1;
            }
            reader.ack(d).await.unwrap();
        }
    }
    // Drain a little longer: a duplicate would arrive after the last original.
    for d in reader.fetch(64, Duration::from_secs(2)).await.unwrap() {
        rows += d.records.len() as i64;
    }
    assert_eq!(rows, TOTAL, "no row lost or duplicated");
    assert!(seen.iter().all(|n| *n == 1), "each record exactly once");
    call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/2_bulk_clean/stop/",
        None,
    )
    .await;
    srv.cleanup_bus().await;
}

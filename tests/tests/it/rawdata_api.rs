//! Raw data over HTTP on real JetStream: register (flat and BKData access shapes), list, get,
//! ingest (NDJSON, JSON array, gzip, limits), tail, publish straight to the bus, delete.
use bkdata_bus::Bus;
use bkdata_tests::*;
use serde_json::{json, Value};
use std::io::Write;

async fn nats_server() -> TestServer {
    TestServer::start_with(|c| {
        c.nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        c.max_ingest_records = 5_000;
    })
    .await
}

async fn call(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<reqwest::Body>,
    gzip: bool,
) -> (u16, Value) {
    let mut req = srv
        .client
        .request(method, srv.url(path))
        .header("X-Bkapi-Authorization", srv.auth_header());
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post_json(srv: &TestServer, path: &str, v: Value) -> (u16, Value) {
    call(
        srv,
        reqwest::Method::POST,
        path,
        Some(v.to_string().into()),
        false,
    )
    .await
}

async fn get(srv: &TestServer, path: &str) -> (u16, Value) {
    call(srv, reqwest::Method::GET, path, None, false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn register_ingest_and_tail() {
    let srv = nats_server().await;
    // Flat shape, and BKData's access (deploy_plan) shape.
    let (s, v) = post_json(&srv, "/v3/access/rawdata/", json!({"bk_biz_id": 2, "raw_data_name": "nginx_access", "raw_data_alias": "nginx", "description": "edge logs"})).await;
    assert_eq!((s, v["result"].clone()), (200, json!(true)), "{v}");
    let id = v["data"]["raw_data_id"].as_i64().unwrap();
    assert_eq!(v["data"]["data_encoding"], "UTF-8");
    assert_eq!(
        v["data"]["subject"],
        format!("{}.raw.{id}", srv.bus_prefix())
    );
    assert!(
        !v["data"]["created_at"].as_str().unwrap().contains('T'),
        "BKData datetimes use a space"
    );
    let (_, v2) = post_json(&srv, "/prod/v3/access/deploy_plan/", json!({"bk_biz_id": "3", "data_scenario": "log",
        "access_raw_data": {"raw_data_name": "app_log", "maintainer": "alice", "data_encoding": "UTF-8", "sensitivity": "private"}})).await;
    assert_eq!(v2["result"], true, "{v2}");
    assert_eq!(v2["data"]["data_scenario"], "log");
    assert_eq!(v2["data"]["maintainer"], "alice");

    // Duplicate and invalid registrations.
    let (_, v) = post_json(
        &srv,
        "/v3/access/rawdata/",
        json!({"bk_biz_id": 2, "raw_data_name": "nginx_access"}),
    )
    .await;
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1500005")),
        "{v}"
    );
    let (_, v) = post_json(
        &srv,
        "/v3/access/rawdata/",
        json!({"bk_biz_id": 2, "raw_data_name": "9bad name"}),
    )
    .await;
    assert_eq!(v["code"], "1500400");
    assert!(v["errors"]["raw_data_name"].is_array(), "{v}");
    let (_, v) = post_json(&srv, "/v3/access/rawdata/", json!({"raw_data_name": "x"})).await;
    assert!(v["errors"]["bk_biz_id"].is_array(), "{v}");
    let (_, v) = post_json(
        &srv,
        "/v3/access/rawdata/",
        json!({"bk_biz_id": 2, "raw_data_name": "latin", "data_encoding": "ISO-8859-1"}),
    )
    .await;
    assert!(v["errors"]["data_encoding"].is_array(), "{v}");

    // List by biz, get.
    let (_, v) = get(&srv, "/v3/access/rawdata/?bk_biz_id=2").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = get(&srv, "/v3/access/rawdata/").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (_, v) = get(&srv, &format!("/v3/access/rawdata/{id}")).await;
    assert_eq!(v["data"]["raw_data_name"], "nginx_access");

    // Ingest NDJSON (with a blank line and CRLF), a JSON array, and gzip.
    let ndjson = "{\"msg\": \"a\"}\n\n{\"msg\": \"b\"}\r\nplain log line\n";
    let (s, v) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/v3/databus/rawdatas/{id}/ingest/"),
        Some(ndjson.into()),
        false,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["records"], 3);
    let (_, v) = post_json(
        &srv,
        &format!("/v3/databus/rawdatas/{id}/ingest/"),
        json!(["line four", {"msg": "five"}, 6]),
    )
    .await;
    assert_eq!(v["data"]["records"], 3, "{v}");
    let big: String = (0..2500).map(|i| format!("{{\"i\": {i}}}\n")).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(big.as_bytes()).unwrap();
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        &format!("/prod/v3/databus/rawdatas/{id}/ingest"),
        Some(gz.finish().unwrap().into()),
        true,
    )
    .await;
    assert_eq!(v["data"]["records"], 2500, "{v}");
    assert_eq!(v["data"]["batches"], 3, "1000 records per bus message");

    // Tail: the latest records, oldest first.
    let (_, v) = get(&srv, &format!("/v3/databus/rawdatas/{id}/tail/?limit=3")).await;
    let tail: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(tail, ["{\"i\": 2497}", "{\"i\": 2498}", "{\"i\": 2499}"]);
    let (_, v) = get(&srv, &format!("/v3/databus/rawdatas/{id}/tail/?limit=2507")).await;
    assert_eq!(v["code"], "1500400", "limit is checked");
    let (_, v) = get(&srv, &format!("/v3/databus/rawdatas/{id}/tail/?limit=1000")).await;
    let all: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), 1000);

    // A producer publishing straight to the bus subject shows up too.
    srv.bus
        .publish(&format!("raw.{id}"), &[b"from a producer".to_vec()])
        .await
        .unwrap();
    let (_, v) = get(&srv, &format!("/v3/databus/rawdatas/{id}/tail/?limit=1")).await;
    assert_eq!(v["data"][0]["value"], "from a producer");
    let (_, v) = get(&srv, &format!("/v3/access/rawdata/{id}/")).await;
    assert_eq!(
        v["data"]["records_ingested"], 2506,
        "HTTP-ingested records are counted"
    );
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ingest_is_refused_and_publishes_nothing() {
    let srv = nats_server().await;
    let (_, v) = post_json(
        &srv,
        "/v3/access/rawdata/",
        json!({"bk_biz_id": 2, "raw_data_name": "guarded"}),
    )
    .await;
    let id = v["data"]["raw_data_id"].as_i64().unwrap();
    let path = format!("/v3/databus/rawdatas/{id}/ingest/");
    post_json(&srv, &path, json!(["before"])).await;

    let cases: Vec<(Vec<u8>, bool, u16, &str)> = vec![
        (b"[\"a\", ".to_vec(), false, 200, "1500400"), // broken JSON array
        (b"".to_vec(), false, 200, "1500400"),         // no records
        (b"not gzip at all".to_vec(), true, 200, "1500400"), // bad gzip
        (b"[\"two\\nlines\"]".to_vec(), false, 200, "1500400"), // newline inside a record
        (
            (0..5001)
                .map(|i| format!("{i}\n"))
                .collect::<String>()
                .into_bytes(),
            false,
            200,
            "1500413",
        ), // too many records: a limit of the API, so HTTP 200 as BKData answers
    ];
    for (body, gzip, status, code) in cases {
        let (s, v) = call(&srv, reqwest::Method::POST, &path, Some(body.into()), gzip).await;
        assert_eq!((s, v["code"].as_str().unwrap_or("")), (status, code), "{v}");
        assert_eq!(v["result"], false);
    }
    // Over the body limit: 413 before anything is read.
    let srv2 = TestServer::start_with(|c| c.max_ingest_bytes = 1024).await;
    let (_, v) = post_json(
        &srv2,
        "/v3/access/rawdata/",
        json!({"bk_biz_id": 2, "raw_data_name": "small"}),
    )
    .await;
    let id2 = v["data"]["raw_data_id"].as_i64().unwrap();
    let (s, v) = call(
        &srv2,
        reqwest::Method::POST,
        &format!("/v3/databus/rawdatas/{id2}/ingest/"),
        Some("x".repeat(4096).into()),
        false,
    )
    .await;
    assert_eq!((s, v["code"].clone()), (413, json!("1500413")), "{v}");

    // Nothing from the refused requests reached the bus.
    let (_, v) = get(&srv, &format!("/v3/databus/rawdatas/{id}/tail/?limit=10")).await;
    assert_eq!(v["data"], json!([{"value": "before"}]));
    // Unknown raw data, another app's raw data.
    let (s, v) = post_json(&srv, "/v3/databus/rawdatas/999999/ingest/", json!(["x"])).await;
    assert_eq!((s, v["code"].clone()), (200, json!("1500004")));
    let other = {
        let mut c = srv.db.conn();
        bkdata_models::auth::create_app(&mut c, "other-app", "", false).unwrap()
    };
    let auth = json!({"bk_app_code": "other-app", "bk_app_secret": other, "bk_username": "eve"})
        .to_string();
    let r = srv
        .client
        .get(srv.url(&format!("/v3/databus/rawdatas/{id}/tail/")))
        .header("X-Bkapi-Authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1500004"))
    );
    // Delete.
    let (_, v) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/v3/access/rawdata/{id}/"),
        None,
        false,
    )
    .await;
    assert_eq!(v["data"]["deleted"], true);
    let (s, v) = get(&srv, &format!("/v3/access/rawdata/{id}/")).await;
    assert_eq!((s, v["code"].clone()), (200, json!("1500004")));
    // Its records went with it.
    assert!(srv
        .bus
        .tail(&format!("raw.{id}"), 10)
        .await
        .unwrap()
        .is_empty());
    srv.cleanup_bus().await;
}

//! Cleans over HTTP with bklog's request bodies (wire reference §2.4): create from a
//! bk_log_json config sent as a JSON string, read, list, update, result tables, errors, delete.
use bkdata_databus::etl::bklog::{self, BklogField, EtlParams};
use bkdata_tests::*;
use serde_json::{json, Value};

async fn call(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    srv.bk(method, path, body).await
}

fn bklog_json_config() -> String {
    let fields: Vec<BklogField> = serde_json::from_value(json!([
        {"field_name": "level", "field_type": "keyword"},
        {"field_name": "code", "field_type": "integer"},
    ]))
    .unwrap();
    bklog::json_config("bk_log_json", &EtlParams::default(), &fields)
        .unwrap()
        .to_string()
}

fn clean_body(raw_id: i64, name: &str) -> Value {
    // As bklog's handlers/etl/bkbase.py sends it.
    json!({
        "raw_data_id": raw_id, "result_table_name": name, "result_table_name_alias": "nginx 日志",
        "clean_config_name": "nginx clean", "description": "from bklog", "bk_biz_id": 2, "bk_username": "admin",
        "json_config": bklog_json_config(),
        "fields": [
            {"field_name": "level", "field_type": "string", "field_alias": "级别", "is_dimension": true, "field_index": 1},
            {"field_name": "code", "field_type": "int", "field_alias": "code", "is_dimension": false, "field_index": 2},
            {"field_name": "ip", "field_type": "string", "field_alias": "ip", "is_dimension": true, "field_index": 3},
            {"field_name": "code", "field_type": "int", "field_alias": "dup", "is_dimension": false, "field_index": 4},
            {"field_name": "timestamp", "field_type": "long", "field_alias": "time", "is_dimension": false, "field_index": 5}
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bklog_creates_reads_updates_and_deletes_a_clean() {
    let srv = TestServer::start().await;
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/access/rawdata/",
        Some(json!({"bk_biz_id": 2, "raw_data_name": "nginx"})),
    )
    .await;
    let raw = v["data"]["raw_data_id"].as_i64().unwrap();

    let (s, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/",
        Some(clean_body(raw, "bklog_nginx")),
    )
    .await;
    assert_eq!((s, v["result"].clone()), (200, json!(true)), "{v}");
    assert_eq!(v["data"]["result_table_id"], "2_bklog_nginx");
    assert_eq!(v["data"]["processing_id"], "2_bklog_nginx");
    assert_eq!(v["data"]["status"], "stopped");
    let fields = v["data"]["result_table"]["fields"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(fields.len(), 4, "the duplicate is dropped: {fields:?}");
    assert_eq!(
        fields[0],
        json!({"field_name": "level", "field_type": "string", "field_alias": "级别", "is_dimension": true, "field_index": 1})
    );

    // Read it back every way bklog does.
    let (_, v) = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/cleans/2_bklog_nginx/",
        None,
    )
    .await;
    assert_eq!(v["data"]["raw_data_id"], raw);
    let stored: Value = serde_json::from_str(v["data"]["json_config"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored["extract"]["label"], "bk_envelope",
        "json_config comes back as a string"
    );
    let (_, v) = call(
        &srv,
        reqwest::Method::GET,
        &format!("/v3/databus/cleans/?raw_data_id={raw}"),
        None,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/cleans/?bk_biz_id=3",
        None,
    )
    .await;
    assert_eq!(v["data"], json!([]));
    for root in [
        "/v3/databus/result_tables/2_bklog_nginx/",
        "/prod/v3/meta/result_tables/2_bklog_nginx",
    ] {
        let (s, v) = call(&srv, reqwest::Method::GET, root, None).await;
        assert_eq!(s, 200, "{root}");
        assert_eq!(v["data"]["processing_type"], "clean");
        assert_eq!(v["data"]["fields"][1]["field_name"], "code");
    }

    // Update: a new alias; then fields the config does not produce are refused.
    let (_, v) = call(
        &srv,
        reqwest::Method::PUT,
        "/v3/databus/cleans/2_bklog_nginx/",
        Some(json!({"result_table_name_alias": "nginx v2", "description": "updated"})),
    )
    .await;
    assert_eq!(
        v["data"]["clean_result_table_name_alias"], "nginx v2",
        "{v}"
    );
    let (_, v) = call(
        &srv,
        reqwest::Method::PUT,
        "/v3/databus/cleans/2_bklog_nginx/",
        Some(json!({"fields": [{"field_name": "nope", "field_type": "string"}]})),
    )
    .await;
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1570001")),
        "{v}"
    );
    assert!(v["errors"]["fields"][0].as_str().unwrap().contains("nope"));
    let (_, v) = call(
        &srv,
        reqwest::Method::PUT,
        "/v3/databus/cleans/2_bklog_nginx/",
        Some(json!({"result_table_name": "renamed"})),
    )
    .await;
    assert_eq!(v["code"], "1500400");

    // The raw data cannot go while a clean uses it.
    let (_, v) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/v3/access/rawdata/{raw}/"),
        None,
    )
    .await;
    assert!(
        v["errors"]["raw_data_id"][0]
            .as_str()
            .unwrap()
            .contains("2_bklog_nginx"),
        "{v}"
    );
    let (_, v) = call(
        &srv,
        reqwest::Method::DELETE,
        "/v3/databus/cleans/2_bklog_nginx/",
        None,
    )
    .await;
    assert_eq!(v["data"]["deleted"], true);
    let (s, v) = call(
        &srv,
        reqwest::Method::GET,
        "/v3/databus/result_tables/2_bklog_nginx/",
        None,
    )
    .await;
    assert_eq!((s, v["code"].clone()), (200, json!("1500004")));
    let (_, v) = call(
        &srv,
        reqwest::Method::DELETE,
        &format!("/v3/access/rawdata/{raw}/"),
        None,
    )
    .await;
    assert_eq!(v["data"]["deleted"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cleans_get_bkdata_errors() {
    let srv = TestServer::start().await;
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/access/rawdata/",
        Some(json!({"bk_biz_id": 2, "raw_data_name": "src"})),
    )
    .await;
    let raw = v["data"]["raw_data_id"].as_i64().unwrap();
    let with = |patch: Value| {
        let mut b = clean_body(raw, "checked");
        for (k, x) in patch.as_object().unwrap() {
            b[k] = x.clone();
        }
        b
    };
    let bad_config =
        json!({"extract": {"type": "fun", "method": "regex_extract", "label": "boom", "args": [{"regexp": "(?P<x>a)"}]}}).to_string();
    let cases = [
        (
            with(json!({"json_config": bad_config})),
            "1570001",
            "json_config",
        ),
        (
            with(json!({"json_config": "{not json"})),
            "1570001",
            "json_config",
        ),
        (with(json!({"json_config": null})), "1500400", "json_config"),
        (
            with(json!({"fields": [{"field_name": "level", "field_type": "blob"}]})),
            "1500400",
            "fields",
        ),
        (with(json!({"fields": []})), "1500400", "fields"),
        (
            with(json!({"result_table_name": "has space"})),
            "1500400",
            "result_table_name",
        ),
        (with(json!({"bk_biz_id": 3})), "1500400", "bk_biz_id"),
        (with(json!({"raw_data_id": null})), "1500400", "raw_data_id"),
        // Wrong types are named too.
        (
            with(json!({"raw_data_id": "abc"})),
            "1500400",
            "raw_data_id",
        ),
        (with(json!({"fields": "ip"})), "1500400", "fields"),
        (
            with(json!({"fields": [{"field_name": 5}]})),
            "1500400",
            "fields",
        ),
    ];
    for (body, code, field) in cases {
        let (_, v) = call(
            &srv,
            reqwest::Method::POST,
            "/v3/databus/cleans/",
            Some(body),
        )
        .await;
        assert_eq!(
            (v["result"].clone(), v["code"].as_str().unwrap_or("")),
            (json!(false), code),
            "{field}: {v}"
        );
        assert!(v["errors"][field].is_array(), "{field}: {v}");
    }
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/",
        Some(with(json!({"raw_data_id": 424242}))),
    )
    .await;
    assert_eq!(v["code"], "1500004");
    // Nothing half-created: the good one still goes through, once.
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/",
        Some(with(json!({}))),
    )
    .await;
    assert_eq!(v["result"], true, "{v}");
    let (_, v) = call(
        &srv,
        reqwest::Method::POST,
        "/v3/databus/cleans/",
        Some(with(json!({}))),
    )
    .await;
    assert_eq!(v["code"], "1500005");
    let (_, v) = call(&srv, reqwest::Method::GET, "/v3/databus/cleans/", None).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
}

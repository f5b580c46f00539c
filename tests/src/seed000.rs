//! Seed 000 fixtures shared by the shipping tests and the end-to-end benchmark: bklog's
//! collector envelopes, its clean and data storage bodies, and storage readers.
use crate::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

/// bklog's collector envelope around one JSON log line (the shape bk_log_json cleans).
pub fn envelope(i: u64) -> String {
    envelope_with(
        i,
        "2026-11-22 06:30:52",
        &format!("GET /api/{i} done\tin {}ms", i % 97),
    )
}

pub fn envelope_with(i: u64, utctime: &str, msg: &str) -> String {
    let level = ["INFO", "WARN", "ERROR"][(i % 3) as usize];
    let data = json!({"level": level, "code": i % 600, "msg": msg}).to_string();
    json!({"serverIp": format!("10.0.{}.{}", i / 250 % 250, i % 250), "path": "/var/log/app.log",
        "gseIndex": i, "utctime": utctime, "items": [{"data": data}]})
    .to_string()
}

pub fn ndjson(range: std::ops::Range<u64>) -> String {
    range.map(|i| envelope(i) + "\n").collect()
}

pub fn bklog_config() -> String {
    use bkdata_databus::etl::bklog::{self, BklogField, EtlParams};
    let fields: Vec<BklogField> = serde_json::from_value(json!([
        {"field_name": "level", "field_type": "keyword"},
        {"field_name": "code", "field_type": "integer"},
        {"field_name": "msg", "field_type": "text"},
    ]))
    .unwrap();
    bklog::json_config("bk_log_json", &EtlParams::default(), &fields)
        .unwrap()
        .to_string()
}

/// Register raw data and a bklog clean on it (as bklog sends it); answers (raw_data_id, rt).
pub async fn raw_and_clean(srv: &TestServer, biz: i64, name: &str) -> (i64, String) {
    raw_and_clean_with(srv, biz, name, json!({})).await
}

/// [`raw_and_clean`] with more fields in the raw data's body (`storage_partitions`, …).
pub async fn raw_and_clean_with(
    srv: &TestServer,
    biz: i64,
    name: &str,
    raw_extra: Value,
) -> (i64, String) {
    let mut body = json!({"bk_biz_id": biz, "raw_data_name": name});
    for (k, v) in raw_extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let raw = srv
        .bk_ok(Method::POST, "/v3/access/rawdata/", Some(body))
        .await;
    let raw_id = raw["raw_data_id"].as_i64().unwrap();
    let clean = srv
        .bk_ok(Method::POST, "/v3/databus/cleans/", Some(json!({
            "raw_data_id": raw_id, "result_table_name": name, "result_table_name_alias": "应用日志",
            "clean_config_name": name, "description": "bklog", "bk_biz_id": biz, "bk_username": "admin",
            "json_config": bklog_config(),
            "fields": [
                {"field_name": "level", "field_type": "string", "field_alias": "级别", "is_dimension": true, "field_index": 1},
                {"field_name": "code", "field_type": "int", "field_alias": "code", "is_dimension": false, "field_index": 2},
                {"field_name": "msg", "field_type": "text", "field_alias": "msg", "is_dimension": false, "field_index": 3},
                {"field_name": "gseindex", "field_type": "long", "field_alias": "gseindex", "is_dimension": false, "field_index": 4},
                {"field_name": "ip", "field_type": "string", "field_alias": "ip", "is_dimension": true, "field_index": 5},
                {"field_name": "timestamp", "field_type": "long", "field_alias": "time", "is_dimension": false, "field_index": 6}
            ]
        })))
        .await;
    (
        raw_id,
        clean["result_table_id"].as_str().unwrap().to_string(),
    )
}

/// Raw data and its clean shipping to the default PostgreSQL cluster, every task started;
/// answers (raw_data_id, rt). The table is `mapleleaf_{biz}.{name}_{biz}`.
pub async fn shipping_to_postgres(srv: &TestServer, biz: i64, name: &str) -> (i64, String) {
    shipping_to_postgres_with(srv, biz, name, json!({})).await
}

/// [`shipping_to_postgres`] with more fields in the raw data's body.
pub async fn shipping_to_postgres_with(
    srv: &TestServer,
    biz: i64,
    name: &str,
    raw_extra: Value,
) -> (i64, String) {
    let (raw_id, rt) = raw_and_clean_with(srv, biz, name, raw_extra).await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/data_storages/",
        Some(storage_body(biz, raw_id, name, "postgresql", None)),
    )
    .await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": rt})),
    )
    .await;
    (raw_id, rt)
}

/// bklog's data_storages body (handlers/etl/bkbase.py), for another storage type.
pub fn storage_body(
    biz: i64,
    raw_id: i64,
    name: &str,
    storage_type: &str,
    cluster: Option<&str>,
) -> Value {
    let mut b = json!({
        "bk_biz_id": biz, "raw_data_id": raw_id, "data_type": "clean",
        "result_table_name": name, "result_table_name_alias": "应用日志",
        "storage_type": storage_type, "expires": "7d",
        "fields": [
            {"field_name": "level", "field_type": "string", "field_alias": "级别", "is_dimension": true, "field_index": 1, "physical_field": "level"},
            {"field_name": "code", "field_type": "int", "field_alias": "code", "is_dimension": false, "field_index": 2, "physical_field": "code"},
            {"field_name": "msg", "field_type": "text", "field_alias": "msg", "is_dimension": false, "field_index": 3, "physical_field": "msg"},
            {"field_name": "gseindex", "field_type": "long", "field_alias": "gseindex", "is_dimension": false, "field_index": 4, "physical_field": "gseindex"},
            {"field_name": "ip", "field_type": "string", "field_alias": "ip", "is_dimension": true, "field_index": 5, "physical_field": "ip"},
            {"field_name": "timestamp", "field_type": "long", "field_alias": "time", "is_dimension": false, "field_index": 6, "physical_field": "timestamp"}
        ]
    });
    if let Some(c) = cluster {
        b["storage_cluster"] = json!(c);
    }
    b
}

pub fn unique(tag: &str) -> String {
    format!("{tag}{:08x}", rand::random::<u32>())
}

pub async fn pg(srv: &TestServer) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&srv.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c
}

/// (rows, distinct gseindex, sum of code) in a PostgreSQL table.
pub async fn pg_counts(c: &tokio_postgres::Client, table: &str) -> (i64, i64, i64) {
    let r = c
        .query_one(
            &format!("SELECT count(*), count(DISTINCT gseindex), coalesce(sum(code), 0)::bigint FROM {table}"),
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

pub fn maria() -> mysql_async::Pool {
    mysql_async::Pool::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3306)
            .user(Some("root"))
            .prefer_socket(false),
    )
}

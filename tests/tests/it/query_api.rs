//! The query API on real storages: result tables resolved to their physical tables on
//! PostgreSQL and MariaDB, names keeping their case, the row limit and the timeout, and
//! everything but reading refused.
use bkdata_tests::seed000::*;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn query(srv: &TestServer, body: Value) -> Value {
    srv.bk(Method::POST, "/v3/dataquery/query/", Some(body))
        .await
        .1
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_read_result_tables_on_their_storage() {
    let srv = TestServer::start_with(|c| {
        c.nats_url = nats_url();
        c.query_max_rows = 50;
        c.query_timeout_ms = 300;
    })
    .await;
    let _worker = srv.worker(&[]);
    let (raw_id, rt) = shipping_to_postgres(&srv, 3, "query_log").await;
    // MariaDB beside PostgreSQL, in a database of this test's own.
    let database = unique("bkquery_");
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "maria", "cluster_type": "mysql",
            "connection_info": {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": database}})),
    )
    .await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/data_storages/",
        Some(storage_body(3, raw_id, "query_log", "mysql", Some("maria"))),
    )
    .await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": rt})),
    )
    .await;
    let (st, v) = srv.ingest(raw_id, ndjson(0..1000)).await;
    assert_eq!(st, 200, "{v}");
    let pg = pg(&srv).await;
    eventually(
        Duration::from_secs(60),
        "1,000 rows in both storages",
        || async {
            let (n, _, _) = pg_counts(&pg, "mapleleaf_3.query_log_3").await;
            let q = query(
            &srv,
            json!({"sql": format!("SELECT count(*) AS n FROM {rt}"), "prefer_storage": "mysql"}),
        )
        .await;
            (n == 1000 && q["data"]["list"][0]["n"] == 1000).then_some(())
        },
    )
    .await;

    // BKData's answer shape, names as written (mixed case too), on PostgreSQL by default.
    let sql = format!(
        "SELECT level, count(*) AS n, max(code) AS maxCode, min(dtEventTimeStamp) AS firstTs \
         FROM {rt} WHERE gseindex < 600 GROUP BY level ORDER BY level"
    );
    let v = query(&srv, json!({"sql": sql})).await;
    assert_eq!(v["result"], true, "{v}");
    let d = &v["data"];
    assert_eq!(d["device"], "postgresql");
    assert_eq!(
        d["select_fields_order"],
        json!(["level", "n", "maxCode", "firstTs"])
    );
    assert_eq!(d["total_records"], 3);
    assert!(d["timetaken"].as_f64().unwrap() >= 0.0);
    let list = d["list"].as_array().unwrap();
    assert_eq!(list[0]["level"], "ERROR");
    assert_eq!(list[0]["n"], 200);
    // code = i % 600 over i < 600 with level i % 3 == 2 (ERROR): the greatest is 599.
    assert_eq!(list[0]["maxCode"], 599);
    assert!(list[0]["firstTs"].is_i64(), "{v}");
    // The same on MariaDB.
    let m = query(&srv, json!({"sql": sql, "prefer_storage": "mysql"})).await;
    assert_eq!(m["data"]["device"], "mysql", "{m}");
    assert_eq!(m["data"]["list"], d["list"], "the same answer from MariaDB");

    // The row limit: 50 of the 1,000, said so.
    let v = query(&srv, json!({"sql": format!("SELECT gseindex FROM {rt}")})).await;
    assert_eq!(v["data"]["total_records"], 50, "{v}");
    assert_eq!(v["data"]["truncated"], true);

    // The timeout stops a costly query.
    let slow = format!("SELECT count(*) AS n FROM {rt} a, {rt} b, {rt} c");
    for storage in ["postgresql", "mysql"] {
        let started = std::time::Instant::now();
        let v = query(&srv, json!({"sql": slow, "prefer_storage": storage})).await;
        assert_eq!(v["result"], false, "{storage}: {v}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{storage}: stopped by the timeout"
        );
        let msg = v["message"].as_str().unwrap().to_lowercase();
        assert!(
            msg.contains("timeout") || msg.contains("max_statement_time") || msg.contains("cancel"),
            "{storage}: {v}"
        );
    }

    // Only reading, only result tables, only what the caller may read.
    for (sql, why) in [
        (format!("DELETE FROM {rt}"), "only SELECT"),
        (
            format!("SELECT pg_read_file('/etc/passwd') FROM {rt}"),
            "not allowed",
        ),
        (
            "SELECT * FROM pg_catalog.pg_authid".to_string(),
            "not pg_catalog.pg_authid",
        ),
        (format!("SELECT * FROM {rt}; DROP TABLE x"), "one statement"),
        (
            "SELECT * FROM 3_no_such_table".to_string(),
            "does not exist",
        ),
    ] {
        let v = query(&srv, json!({"sql": sql})).await;
        assert_eq!(v["result"], false, "{sql}");
        assert!(v["message"].as_str().unwrap().contains(why), "{sql}: {v}");
    }
    let v = query(
        &srv,
        json!({"sql": format!("SELECT 1 AS x FROM {rt}"), "prefer_storage": "redis"}),
    )
    .await;
    assert!(
        v["message"].as_str().unwrap().contains("cannot be queried"),
        "{v}"
    );
    let other = srv.other_app("stranger");
    let (_, v) = srv
        .bk_as(
            &other,
            Method::POST,
            "/v3/dataquery/query/",
            Some(json!({"sql": format!("SELECT count(*) AS n FROM {rt}")})),
        )
        .await;
    assert_eq!(v["result"], false);
    assert!(
        v["message"].as_str().unwrap().contains("may not read"),
        "{v}"
    );
    let (n, _, _) = pg_counts(&pg, "mapleleaf_3.query_log_3").await;
    assert_eq!(n, 1000, "nothing was changed");

    let maria = maria();
    use mysql_async::prelude::Queryable;
    let mut c = maria.get_conn().await.unwrap();
    c.query_drop(format!("DROP DATABASE IF EXISTS {database}"))
        .await
        .unwrap();
    drop(_worker);
    srv.cleanup_bus().await;
}

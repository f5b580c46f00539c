//! Seed 000 end to end on real services: raw data → a bk_log_json clean (verified on a sample)
//! → data storages on PostgreSQL, MariaDB and Redis → tasks → 100,000 records ingested over
//! HTTP → every one typed in each storage, once → tasks stopped, storages listed with status.
use bkdata_tests::seed000::*;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open("redis://127.0.0.1:6379/0")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn redis_keys(c: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(c)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

fn sum_code(range: std::ops::Range<u64>) -> i64 {
    range.map(|i| (i % 600) as i64).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed000_ingest_lands_typed_in_postgres_mariadb_and_redis() {
    const N: u64 = 100_000;
    let srv = nats_server().await;
    let _worker = srv.worker(&[]);
    let (biz, name) = (2, "app_log");
    let (raw_id, rt) = raw_and_clean(&srv, biz, name).await;
    assert_eq!(rt, "2_app_log");

    // Verify the config on a sample first, as an operator does.
    let cfg = bklog_config();
    let v = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/cleans/verify/",
            Some(json!({"conf": cfg, "msg": envelope(42)})),
        )
        .await;
    let row = &v["result"][0];
    let schema: Vec<&str> = v["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().split('(').next().unwrap())
        .collect();
    let at = |n: &str| schema.iter().position(|s| *s == n).unwrap();
    assert_eq!(row[at("code")], 42, "{v}");
    assert_eq!(row[at("level")], "INFO", "{v}");

    // PostgreSQL on the default cluster, before the task: created stopped.
    let ds = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(biz, raw_id, name, "postgresql", None)),
        )
        .await;
    assert_eq!(ds["physical_table_name"], "mapleleaf_2.app_log_2", "{ds}");
    assert_eq!(ds["storage_cluster"], "default-postgresql");
    assert_eq!(ds["status"], "stopped");
    let pgc = pg(&srv).await;
    let types: Vec<(String, String)> = pgc
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'mapleleaf_2' AND table_name = 'app_log_2' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let types: Vec<(&str, &str)> = types
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("level", "text"),
            ("code", "integer"),
            ("msg", "text"),
            ("gseindex", "bigint"),
            ("ip", "text"),
            ("timestamp", "bigint"),
            ("dtEventTime", "text"),
            ("dtEventTimeStamp", "bigint"),
            ("localTime", "text")
        ]
    );

    // The clean and the PostgreSQL shipper, by bklog's tasks call.
    let t = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/tasks/",
            Some(json!({"result_table_id": rt, "storages": ["kafka", "postgresql"]})),
        )
        .await;
    assert_eq!(t["storages"]["kafka"]["status"], "running", "{t}");
    assert_eq!(t["storages"]["postgresql"]["status"], "running", "{t}");

    // MariaDB and Redis bound while the table is live: their shippers start with the binding.
    let db = unique("bkt_");
    let prefix = format!("{db}:");
    srv.bk_ok(Method::POST, "/v3/storekit/clusters/", Some(json!({"cluster_name": format!("maria-{db}"), "cluster_type": "mysql",
        "connection_info": {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": db}}))).await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(
            json!({"cluster_name": format!("redis-{db}"), "cluster_type": "redis",
        "connection_info": {"host": "127.0.0.1", "port": 6379, "key_prefix": prefix}}),
        ),
    )
    .await;
    let m = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(
                biz,
                raw_id,
                name,
                "tspider",
                Some(&format!("maria-{db}")),
            )),
        )
        .await;
    assert_eq!(m["physical_table_name"], format!("{db}.app_log_2"));
    assert_eq!(m["status"], "running", "{m}");
    let r = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(
                biz,
                raw_id,
                name,
                "redis",
                Some(&format!("redis-{db}")),
            )),
        )
        .await;
    assert_eq!(r["physical_table_name"], format!("{db}:2_app_log"));

    // 100,000 records over HTTP, 10,000 a request.
    for start in (0..N).step_by(10_000) {
        let (s, v) = srv.ingest(raw_id, ndjson(start..start + 10_000)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["data"]["records"], 10_000, "{v}");
    }

    let within = Duration::from_secs(240);
    let table = "mapleleaf_2.app_log_2";
    eventually(within, "all rows in PostgreSQL", || async {
        (pg_counts(&pgc, table).await.0 >= N as i64).then_some(())
    })
    .await;
    assert_eq!(
        pg_counts(&pgc, table).await,
        (N as i64, N as i64, sum_code(0..N))
    );
    let r = pgc
        .query_one(
            &format!("SELECT level, code, msg, ip, \"dtEventTimeStamp\" FROM {table} WHERE gseindex = 4242"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "INFO");
    assert_eq!(r.get::<_, i32>(1), 4242 % 600);
    assert_eq!(r.get::<_, String>(2), "GET /api/4242 done\tin 71ms");
    assert_eq!(r.get::<_, String>(3), "10.0.16.242");
    assert_eq!(r.get::<_, i64>(4), 1_795_329_052_000);

    use mysql_async::prelude::Queryable;
    let maria = maria();
    let mut mc = maria.get_conn().await.unwrap();
    let q = format!("SELECT COUNT(*), COUNT(DISTINCT gseindex), CAST(COALESCE(SUM(code), 0) AS SIGNED) FROM `{db}`.app_log_2");
    let counts = eventually(within, "all rows in MariaDB", || {
        let (q, maria) = (q.clone(), maria.clone());
        async move {
            let mut mc = maria.get_conn().await.unwrap();
            let c: (i64, i64, i64) = mc.query_first(q).await.unwrap().unwrap();
            (c.0 >= N as i64).then_some(c)
        }
    })
    .await;
    assert_eq!(counts, (N as i64, N as i64, sum_code(0..N)));
    let typed: Option<String> = mc
        .query_first(format!("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'app_log_2' AND COLUMN_NAME = 'code'"))
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some("int"));

    let mut rc = redis_conn().await;
    let pattern = format!("{db}:2_app_log:*");
    eventually(within, "all rows in Redis", || {
        let (mut rc, pattern) = (rc.clone(), pattern.clone());
        async move { (redis_keys(&mut rc, &pattern).await.len() >= N as usize).then_some(()) }
    })
    .await;
    let keys = redis_keys(&mut rc, &pattern).await;
    assert_eq!(keys.len(), N as usize);
    let one: String = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut rc)
        .await
        .unwrap();
    let one: Value = serde_json::from_str(&one).unwrap();
    assert!(one["code"].is_i64() && one["gseindex"].is_i64(), "{one}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut rc)
        .await
        .unwrap();
    assert!(ttl > 6 * 86_400 && ttl <= 7 * 86_400, "{ttl}");

    // Counters and lag settle.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let t = loop {
        let (_, v) = srv
            .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
            .await;
        let s = &v["data"]["storages"];
        let done = ["postgresql", "tspider", "redis"]
            .iter()
            .all(|k| s[k]["rows_written"] == N && s[k]["lag"] == 0)
            && s["kafka"]["rows_out"] == N;
        if done {
            break v["data"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counters never settled: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(t["status"], "running");

    // get_config_db_list: the three storages with status, filtered as bklog filters.
    let list = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/databus/data_storages/?raw_data_id={raw_id}&bk_biz_id={biz}"),
            None,
        )
        .await;
    let list = list.as_array().unwrap();
    let mut types: Vec<&str> = list
        .iter()
        .map(|d| d["storage_type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["postgresql", "redis", "tspider"]);
    for d in list {
        assert_eq!(
            (d["status"].as_str(), d["status_display"].as_str()),
            (Some("running"), Some("正常")),
            "{d}"
        );
        assert_eq!(d["result_table_id"], rt);
        assert_eq!(d["expires"], "7d");
    }
    let other_biz = srv
        .bk_ok(Method::GET, "/v3/databus/data_storages/?bk_biz_id=3", None)
        .await;
    assert_eq!(other_biz, json!([]));

    // Stop everything.
    let t = srv
        .bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    for k in ["kafka", "postgresql", "tspider", "redis"] {
        assert_eq!(t["storages"][k]["status"], "stopped", "{t}");
    }
    let list = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/databus/data_storages/?raw_data_id={raw_id}"),
            None,
        )
        .await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "stopped" && d["status_display"] == "已停止"));
    // The jobs end.
    let mut conn = srv.db.conn();
    eventually(Duration::from_secs(30), "jobs to end", || {
        use bkdata_models::schema::background_jobs as j;
        use diesel::prelude::*;
        let live: i64 = j::table
            .filter(j::job_type.eq_any(["ship_run", "clean_run"]))
            .count()
            .get_result(&mut conn)
            .unwrap();
        async move { (live == 0).then_some(()) }
    })
    .await;

    mc.query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .unwrap();
    drop(mc);
    maria.disconnect().await.unwrap();
    let all = redis_keys(&mut rc, &format!("{db}:*")).await;
    for chunk in all.chunks(1000) {
        let _: i64 = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut rc)
            .await
            .unwrap();
    }
    srv.cleanup_bus().await;
}

/// bklog's request bodies are accepted as sent; unsupported storages and bad settings are
/// clear errors in BKData's envelope, and nothing is bound by a refused request.
#[tokio::test(flavor = "multi_thread")]
async fn storage_and_task_bodies_and_their_errors() {
    let srv = TestServer::start().await;
    let es = fake_es::FakeEs::start().await;
    let (biz, name) = (5, "web_log");
    let (raw_id, rt) = raw_and_clean(&srv, biz, name).await;

    // Unsupported storage types name the supported ones.
    let (s, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(biz, raw_id, name, "hdfs", None)),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["result"], false, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("hdfs") && m.contains("postgresql, mysql, tspider, redis, es, queue"),
        "{m}"
    );
    assert!(v["errors"]["storage_type"].is_array(), "{v}");
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/tasks/",
            Some(json!({"result_table_id": rt, "storages": ["kafka", "hdfs"]})),
        )
        .await;
    assert_eq!(v["result"], false);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("kafka, queue, postgresql"),
        "{v}"
    );
    // A storage the table is not bound to.
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/tasks/",
            Some(json!({"result_table_id": rt, "storages": ["es"]})),
        )
        .await;
    assert_eq!(
        (v["result"].clone(), v["code"].clone()),
        (json!(false), json!("1500004")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("data_storages"),
        "{v}"
    );

    // Bad settings, each named.
    let mut b = storage_body(biz, raw_id, name, "postgresql", None);
    b["expires"] = json!("forever");
    let (_, v) = srv
        .bk(Method::POST, "/v3/databus/data_storages/", Some(b))
        .await;
    assert!(v["errors"]["expires"].is_array(), "{v}");
    let mut b = storage_body(biz, raw_id, name, "postgresql", None);
    b["fields"][0]["field_name"] = json!("nope");
    let (_, v) = srv
        .bk(Method::POST, "/v3/databus/data_storages/", Some(b))
        .await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("nope is not a field"),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(
                biz,
                raw_id,
                name,
                "mysql",
                Some("default-postgresql"),
            )),
        )
        .await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("is a postgresql cluster"),
        "{v}"
    );
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(biz, raw_id, name, "es", None)),
        )
        .await;
    assert!(
        v["message"].as_str().unwrap().contains("no es cluster"),
        "{v}"
    );
    let mut b = storage_body(biz, raw_id, name, "postgresql", None);
    b["physical_table_name"] = json!("x; DROP TABLE apps");
    let (_, v) = srv
        .bk(Method::POST, "/v3/databus/data_storages/", Some(b))
        .await;
    assert!(v["errors"]["physical_table_name"].is_array(), "{v}");
    // An unreachable cluster: 503, and no binding left behind.
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(
            json!({"cluster_name": "dead-redis", "cluster_type": "redis",
        "connection_info": {"host": "127.0.0.1", "port": 1}}),
        ),
    )
    .await;
    let (s, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(biz, raw_id, name, "redis", Some("dead-redis"))),
        )
        .await;
    assert_eq!((s, v["code"].clone()), (200, json!("1500503")), "{v}");
    let list = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/databus/data_storages/?raw_data_id={raw_id}"),
            None,
        )
        .await;
    assert_eq!(list, json!([]));
    // A bad filter is named.
    let (_, v) = srv
        .bk(
            Method::GET,
            "/v3/databus/data_storages/?raw_data_id=abc",
            None,
        )
        .await;
    assert!(v["errors"]["raw_data_id"].is_array(), "{v}");

    // bklog's ES body: merged storage with its literal-brace physical name.
    srv.bk_ok(Method::POST, "/v3/storekit/clusters/", Some(json!({"cluster_name": "es-main", "cluster_type": "es",
        "connection_info": {"host": "127.0.0.1", "port": es.port, "user": "elastic", "password": "pw"}}))).await;
    let mut b = storage_body(biz, raw_id, name, "es", Some("es-main"));
    b["physical_table_name"] = json!("write_{yyyyMMdd}_{table_id}");
    let d = srv
        .bk_ok(Method::POST, "/v3/databus/data_storages/", Some(b))
        .await;
    assert_eq!(d["physical_table_name"], "write_{yyyyMMdd}_5_web_log");
    {
        let st = es.state.lock().unwrap();
        let today = chrono::Utc::now().format("%Y%m%d").to_string();
        let props = &st.indices[&format!("write_{today}_5_web_log")];
        assert_eq!(props["code"]["type"], "integer");
        assert_eq!(props["level"]["type"], "keyword");
        assert_eq!(props["msg"]["type"], "text");
        assert_eq!(props["dtEventTimeStamp"]["type"], "long");
    }
    // A second POST is "already exists"; PUT changes it (bklog's update path) and adds columns.
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/databus/data_storages/",
            Some(storage_body(biz, raw_id, name, "es", Some("es-main"))),
        )
        .await;
    assert_eq!(v["code"], "1500005", "{v}");
    let pgb = storage_body(biz, raw_id, name, "postgresql", None);
    let mut small = pgb.clone();
    small["fields"] = json!([{"field_name": "code", "field_type": "int"}]);
    srv.bk_ok(Method::POST, "/v3/databus/data_storages/", Some(small))
        .await;
    let mut untyped = pgb.clone();
    untyped.as_object_mut().unwrap().remove("storage_type");
    let (_, v) = srv
        .bk(
            Method::PUT,
            &format!("/v3/databus/data_storages/{rt}/"),
            Some(untyped),
        )
        .await;
    assert!(
        v["message"].as_str().unwrap().contains("several storages"),
        "{v}"
    );
    let mut put = pgb.clone();
    put["expires"] = json!("30d");
    let d = srv
        .bk_ok(
            Method::PUT,
            &format!("/v3/databus/data_storages/{rt}/"),
            Some(put),
        )
        .await;
    assert_eq!(d["expires"], "30d");
    assert_eq!(d["fields"].as_array().unwrap().len(), 6);
    let pgc = pg(&srv).await;
    let n: i64 = pgc
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'mapleleaf_5' AND table_name = 'web_log_5'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 9, "6 fields and the 3 time columns");

    // Tasks for a table with both; DELETE with a list stops only those.
    let t = srv
        .bk_ok(
            Method::POST,
            "/v3/databus/tasks/",
            Some(json!({"result_table_id": rt})),
        )
        .await;
    for k in ["kafka", "es", "postgresql"] {
        assert_eq!(t["storages"][k]["status"], "running", "{t}");
    }
    let t = srv
        .bk_ok(
            Method::DELETE,
            &format!("/v3/databus/tasks/{rt}/?storages=es"),
            None,
        )
        .await;
    assert_eq!(t["storages"]["es"]["status"], "stopped", "{t}");
    assert_eq!(t["storages"]["postgresql"]["status"], "running", "{t}");
    // Unbinding keeps the table.
    let v = srv
        .bk_ok(
            Method::DELETE,
            &format!("/v3/databus/data_storages/{rt}/?storage_type=es"),
            None,
        )
        .await;
    assert_eq!(v["deleted"], true);
    let t = srv
        .bk_ok(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    assert!(t["storages"].get("es").is_none(), "{t}");
    let (_, v) = srv.bk(Method::GET, "/v3/databus/tasks/5_nope/", None).await;
    assert_eq!(v["code"], "1500004");

    // Another app sees none of it and can change none of it.
    let eve = srv.other_app("other-app");
    let srv = &srv;
    let as_eve = |m: Method, path: &str, body: Option<Value>| {
        let (eve, path) = (eve.clone(), path.to_string());
        async move { srv.bk_as(&eve, m, &path, body).await.1 }
    };
    let v = as_eve(Method::GET, "/v3/databus/data_storages/", None).await;
    assert_eq!(v["data"], json!([]), "{v}");
    for (m, path, body) in [
        (Method::GET, format!("/v3/databus/tasks/{rt}/"), None),
        (Method::DELETE, format!("/v3/databus/tasks/{rt}/"), None),
        (
            Method::POST,
            "/v3/databus/tasks/".to_string(),
            Some(json!({"result_table_id": rt})),
        ),
        (
            Method::GET,
            format!("/v3/databus/data_storages/{rt}/"),
            None,
        ),
        (
            Method::PUT,
            format!("/v3/databus/data_storages/{rt}/"),
            Some(pgb.clone()),
        ),
        (
            Method::DELETE,
            format!("/v3/databus/data_storages/{rt}/?storage_type=postgresql"),
            None,
        ),
        (
            Method::POST,
            "/v3/databus/data_storages/".to_string(),
            Some(storage_body(biz, raw_id, name, "redis", None)),
        ),
    ] {
        let v = as_eve(m.clone(), &path, body).await;
        assert_eq!(
            (v["result"].clone(), v["code"].clone()),
            (json!(false), json!("1500004")),
            "{m} {path}: {v}"
        );
    }
    let t = srv
        .bk_ok(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    assert_eq!(t["storages"]["postgresql"]["status"], "running", "{t}");
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
}

/// Elasticsearch through its bulk protocol (a stand-in server: ES cannot be installed here):
/// items answered 429 are retried until stored, items refused by the mapping are dead-lettered
/// and listed, every other row is stored once under its stream-position id.
#[tokio::test(flavor = "multi_thread")]
async fn es_bulk_retries_429_and_dead_letters_rejected_items() {
    const N: u64 = 1_000;
    let srv = nats_server().await;
    let _worker = srv.worker(&[("BKDATA_JOB_RETRY_BASE_MS", "100")]);
    let es = fake_es::FakeEs::start().await;
    {
        let mut st = es.state.lock().unwrap();
        st.throttle_every = 7;
        // An index made earlier with `msg` as a number: non-numeric messages cannot be indexed.
        st.indices.insert(
            "es_app_log".into(),
            json!({"msg": {"type": "long"}})
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    let (biz, name) = (6, "app_log");
    let (raw_id, rt) = raw_and_clean(&srv, biz, name).await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "es-test", "cluster_type": "es",
        "connection_info": {"host": "127.0.0.1", "port": es.port}})),
    )
    .await;
    let mut b = storage_body(biz, raw_id, name, "es", Some("es-test"));
    b["physical_table_name"] = json!("es_app_log");
    srv.bk_ok(Method::POST, "/v3/databus/data_storages/", Some(b))
        .await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": rt})),
    )
    .await;
    let body: String = (0..N)
        .map(|i| {
            let msg = if i % 100 == 0 {
                format!("oops {i}")
            } else {
                i.to_string()
            };
            envelope_with(i, "2026-11-22 06:30:52", &msg) + "\n"
        })
        .collect();
    let (s, v) = srv.ingest(raw_id, body).await;
    assert_eq!(s, 200, "{v}");

    let t = eventually(Duration::from_secs(60), "ES shipped", || async {
        let (_, v) = srv
            .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
            .await;
        let e = &v["data"]["storages"]["es"];
        (e["rows_written"].as_u64().unwrap_or(0) + e["dead_letters"].as_u64().unwrap_or(0) >= N)
            .then_some(e.clone())
    })
    .await;
    assert_eq!(
        (t["rows_written"].clone(), t["dead_letters"].clone()),
        (json!(990), json!(10)),
        "{t}"
    );
    let docs = es.docs_in("es_app_log");
    assert_eq!(docs.len(), 990);
    let mut seen: Vec<i64> = docs
        .iter()
        .map(|d| d["gseindex"].as_i64().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 990);
    assert!(seen.iter().all(|i| i % 100 != 0));
    {
        let st = es.state.lock().unwrap();
        assert!(!st.throttled.is_empty(), "some items were throttled");
        // Only the throttled items were sent again.
        let resent = st.received.len() - N as usize;
        assert_eq!(resent, st.throttled.len());
        // The committed position is kept in the cluster.
        let key = (
            "bkdata_ship_offsets".to_string(),
            "ship_es_6_app_log".to_string(),
        );
        assert!(st.docs[&key]["seq"].as_u64().unwrap() >= 1);
    }
    let dead = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/databus/tasks/{rt}/dead_letters/?storage_type=es"),
            None,
        )
        .await;
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 10);
    for d in dead {
        assert!(
            d["error"]
                .as_str()
                .unwrap()
                .contains("mapper_parsing_exception"),
            "{d}"
        );
        let doc: Value = serde_json::from_str(d["document"].as_str().unwrap()).unwrap();
        assert!(doc["msg"].as_str().unwrap().starts_with("oops"), "{doc}");
    }
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
}

//! Shippers under faults, on real services: a worker SIGKILLed while shipping (every record
//! lands exactly once after another worker takes over), NATS restarted during ingest (nothing
//! accepted is lost), and expiry dropping old rows and old daily indices.
use bkdata_tests::seed000::*;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Fast takeover: short leases and retries.
const FAST: [(&str, &str); 2] = [
    ("BKDATA_JOB_LEASE_MS", "1500"),
    ("BKDATA_JOB_RETRY_BASE_MS", "100"),
];

#[tokio::test(flavor = "multi_thread")]
async fn worker_killed_while_shipping_loses_and_duplicates_nothing() {
    const N: u64 = 200_000;
    let srv = nats_server().await;
    let mut a = srv.worker(&FAST);
    let (biz, name) = (7, "kill_log");
    let (raw_id, rt) = shipping_to_postgres(&srv, biz, name).await;
    for start in (0..N).step_by(20_000) {
        let (s, v) = srv.ingest(raw_id, ndjson(start..start + 20_000)).await;
        assert_eq!(s, 200, "{v}");
    }
    let pgc = pg(&srv).await;
    let table = "mapleleaf_7.kill_log_7";
    // Kill the worker as soon as shipping has begun.
    let at_kill = eventually(Duration::from_secs(60), "shipping to begin", || async {
        let n = pg_counts(&pgc, table).await.0;
        (n > 0).then_some(n)
    })
    .await;
    a.signal(libc::SIGKILL);
    let _ = a.child.wait();
    assert!(
        at_kill < N as i64,
        "the kill must land mid-stream ({at_kill} rows)"
    );
    let _b = srv.worker(&FAST);
    eventually(
        Duration::from_secs(240),
        "every row after takeover",
        || async { (pg_counts(&pgc, table).await.0 >= N as i64).then_some(()) },
    )
    .await;
    // Caught up (no lag left anywhere), counted once (rows written before the kill but not
    // counted are counted by the new owner), and in the table exactly once.
    eventually(
        Duration::from_secs(60),
        "lag 0 and exact counters",
        || async {
            let (_, v) = srv
                .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
                .await;
            let s = &v["data"]["storages"];
            (s["postgresql"]["lag"] == 0
                && s["kafka"]["lag"] == 0
                && s["postgresql"]["rows_written"] == N)
                .then_some(())
        },
    )
    .await;
    let sum: i64 = (0..N).map(|i| (i % 600) as i64).sum();
    assert_eq!(pg_counts(&pgc, table).await, (N as i64, N as i64, sum));
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_restarted_during_ingest_loses_nothing_accepted() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    let srv = TestServer::start_with(|c| c.nats_url = url.clone()).await;
    let mut env = FAST.to_vec();
    env.push(("NATS_URL", url.as_str()));
    let _w = srv.worker(&env);
    let (biz, name) = (8, "nats_log");
    let (raw_id, rt) = shipping_to_postgres(&srv, biz, name).await;
    let mut accepted: Vec<u64> = Vec::new();
    let mut refused = 0;
    const BATCH: u64 = 2_000;
    for b in 0..16u64 {
        if b == 6 {
            nats.stop();
        }
        if b == 9 {
            nats.restart();
        }
        let range = b * BATCH..(b + 1) * BATCH;
        let (s, v) = srv.ingest(raw_id, ndjson(range.clone())).await;
        // BKData answers a refusal with HTTP 200, `result: false` and the code.
        match (s, v["code"].as_str()) {
            (200, _) if v["result"] == true => accepted.extend(range),
            (200, Some("1500503")) => {
                // A partial failure says how many went in before it.
                refused += 1;
                assert_eq!(v["result"], false, "{v}");
                let n = v["errors"]["accepted_records"].as_u64().unwrap_or(0);
                accepted.extend(range.start..range.start + n);
            }
            _ => panic!("ingest answered {s}: {v}"),
        }
    }
    assert!(refused > 0, "ingest while NATS is down is refused");
    assert!(accepted.len() as u64 >= 10 * BATCH);
    let pgc = pg(&srv).await;
    let table = "mapleleaf_8.nats_log_8";
    let want = accepted.len() as i64;
    eventually_showing(
        Duration::from_secs(120),
        "accepted records in PostgreSQL",
        || async {
            let r = pgc
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE gseindex = ANY($1)"),
                    &[&accepted.iter().map(|i| *i as i64).collect::<Vec<_>>()],
                )
                .await
                .unwrap();
            let n = r.get::<_, i64>(0);
            if n == want {
                return Ok(());
            }
            // Missing rows, or rows twice (rows, distinct), and where the tasks stand.
            let (rows, distinct, _) = pg_counts(&pgc, table).await;
            let (_, v) = srv
                .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
                .await;
            Err(format!(
                "{n} of {want} accepted; table rows {rows}, distinct {distinct}; task {}",
                v["data"]
            ))
        },
    )
    .await;
    let (rows, distinct, _) = pg_counts(&pgc, table).await;
    assert_eq!(rows, distinct, "no record twice");
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_drops_old_rows_and_old_daily_indices() {
    let srv = nats_server().await;
    let mut env = FAST.to_vec();
    env.push(("BKDATA_EXPIRE_INTERVAL_MS", "300"));
    let _w = srv.worker(&env);
    let es = fake_es::FakeEs::start().await;
    let (biz, name) = (9, "old_log");
    let (raw_id, rt) = raw_and_clean(&srv, biz, name).await;
    srv.bk_ok(
        Method::POST,
        "/v3/storekit/clusters/",
        Some(json!({"cluster_name": "es-exp", "cluster_type": "es",
        "connection_info": {"host": "127.0.0.1", "port": es.port}})),
    )
    .await;
    let mut p = storage_body(biz, raw_id, name, "postgresql", None);
    p["expires"] = json!("1d");
    srv.bk_ok(Method::POST, "/v3/databus/data_storages/", Some(p))
        .await;
    let mut e = storage_body(biz, raw_id, name, "es", Some("es-exp"));
    e["expires"] = json!("1d");
    e["physical_table_name"] = json!("exp_{yyyyMMdd}_{table_id}");
    srv.bk_ok(Method::POST, "/v3/databus/data_storages/", Some(e))
        .await;
    srv.bk_ok(
        Method::POST,
        "/v3/databus/tasks/",
        Some(json!({"result_table_id": rt})),
    )
    .await;
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::days(3);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let body: String = (0..200u64)
        .map(|i| {
            let t = if i < 100 { old } else { now };
            envelope_with(i, &fmt(t), "m") + "\n"
        })
        .collect();
    let (s, v) = srv.ingest(raw_id, body).await;
    assert_eq!(s, 200, "{v}");
    // Both storages took all 200 rows, then expiry removed the 100 old ones.
    let pgc = pg(&srv).await;
    let old_index = format!("exp_{}_9_old_log", old.format("%Y%m%d"));
    let new_index = format!("exp_{}_9_old_log", now.format("%Y%m%d"));
    eventually(Duration::from_secs(60), "expiry", || async {
        let (_, v) = srv
            .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
            .await;
        let s = &v["data"]["storages"];
        let written = s["postgresql"]["rows_written"] == 200 && s["es"]["rows_written"] == 200;
        let (rows, _, _) = pg_counts(&pgc, "mapleleaf_9.old_log_9").await;
        let min: i64 = pgc
            .query_one(
                "SELECT coalesce(min(gseindex), -1) FROM mapleleaf_9.old_log_9",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let st = es.state.lock().unwrap();
        let es_done = !st.indices.contains_key(&old_index)
            && st.docs.keys().filter(|(i, _)| *i == new_index).count() == 100;
        (written && rows == 100 && min == 100 && es_done).then_some(())
    })
    .await;
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
    let _: Option<Value> = None;
}

/// Two writers of one shipper's partition (the old owner, whose lease ran out while it was
/// busy, and the new one): both start from the same position; the first to commit wins, the
/// other's append is refused and nothing is stored twice. PostgreSQL and MariaDB.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_that_lost_its_job_cannot_append_what_the_new_owner_wrote() {
    use bkdata_storage::{ColType, Column, Row, Sink, TableSpec};
    use mysql_async::prelude::Queryable;
    let db = TestDb::empty();
    let db_name = db.name.clone();
    let maria_db = unique("bkfence_");
    let mut mc = maria().get_conn().await.unwrap();
    mc.query_drop(format!("CREATE DATABASE {maria_db}"))
        .await
        .unwrap();
    let clusters = [
        (
            "postgresql",
            json!({"host": "127.0.0.1", "port": 5432, "user": "postgres",
                   "database": db_name}),
            "fence.rows".to_string(),
        ),
        (
            "mysql",
            json!({"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}),
            format!("{maria_db}.rows"),
        ),
    ];
    for (kind, conn, physical) in clusters {
        let spec = TableSpec {
            physical,
            columns: vec![Column {
                name: "n".into(),
                source: "n".into(),
                ty: ColType::Long,
            }],
            expire_days: None,
            key_fields: vec![],
        };
        let conn = conn.as_object().unwrap().clone();
        let mut old = Sink::connect(kind, &conn, spec.clone(), "rt_x|p0")
            .await
            .unwrap();
        old.ensure().await.unwrap();
        let mut new = Sink::connect(kind, &conn, spec.clone(), "rt_x|p0")
            .await
            .unwrap();
        let (from_old, from_new) = (
            old.committed().await.unwrap(),
            new.committed().await.unwrap(),
        );
        assert_eq!((from_old, from_new), (0, 0), "{kind}");
        let rows: Vec<Row> = (1..=5u64)
            .map(|seq| Row {
                part: 0,
                seq,
                idx: 0,
                values: vec![json!(seq)],
            })
            .collect();
        new.write(&rows, from_new, 5).await.unwrap();
        let refused = old.write(&rows, from_old, 5).await;
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("another writer")),
            "{kind}: {refused:?}"
        );
        // The one that is on time goes on from where it is.
        new.write(&rows[..1], 5, 6).await.unwrap();
        assert_eq!(new.committed().await.unwrap(), 6, "{kind}");
    }
    let (pgc, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let n: i64 = pgc
        .query_one("SELECT count(*) FROM fence.rows", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 6, "PostgreSQL: the refused append left nothing");
    let m: Option<i64> = mc
        .query_first(format!("SELECT count(*) FROM {maria_db}.rows"))
        .await
        .unwrap();
    assert_eq!(m, Some(6), "MariaDB: the refused append left nothing");
    mc.query_drop(format!("DROP DATABASE {maria_db}"))
        .await
        .unwrap();
}

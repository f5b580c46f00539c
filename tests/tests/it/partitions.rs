//! Partitioned streams (issue 21): the partitions API, ingest spread by key, and one raw data
//! cleaned and shipped by many workers: jobs shared evenly, a worker killed mid-stream, a
//! worker joining mid-stream, and the partition count raised on a live stream. Every
//! accepted record is stored once.
use bkdata_tests::seed000::*;
use bkdata_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Fast takeover: short leases (a dead worker's partitions move within 1.5 s) and retries.
const FAST: [(&str, &str); 2] = [
    ("BKDATA_JOB_LEASE_MS", "1500"),
    ("BKDATA_JOB_RETRY_BASE_MS", "100"),
];

fn ok_if(cond: bool, seen: impl std::fmt::Display) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(seen.to_string())
    }
}

/// Running partition jobs (cleans and shippers) per worker.
async fn held(c: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    c.query(
        "SELECT locked_by, count(*) FROM background_jobs WHERE status = 'running' \
         AND job_type IN ('clean_run', 'ship_run') GROUP BY locked_by",
        &[],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

async fn ingest_range(srv: &TestServer, raw_id: i64, range: std::ops::Range<u64>) -> Vec<Value> {
    let mut reports = Vec::new();
    for start in range.clone().step_by(20_000) {
        let end = (start + 20_000).min(range.end);
        let (s, v) = srv.ingest(raw_id, ndjson(start..end)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["result"], true, "{v}");
        reports.push(v["data"].clone());
    }
    reports
}

/// Every row once: the table holds `n` rows, gseindex 0..n each once, the codes' sum; the
/// task view shows no lag and the counters agree.
async fn all_stored_once(srv: &TestServer, rt: &str, table: &str, n: u64) {
    let pgc = pg(srv).await;
    eventually(Duration::from_secs(240), "every row stored", || async {
        (pg_counts(&pgc, table).await.0 >= n as i64).then_some(())
    })
    .await;
    eventually_showing(
        Duration::from_secs(60),
        "lag 0 and exact counters",
        || async {
            let (_, v) = srv
                .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
                .await;
            let s = &v["data"]["storages"];
            let ok = s["postgresql"]["lag"] == 0
                && s["kafka"]["lag"] == 0
                && s["postgresql"]["rows_written"] == n
                && s["kafka"]["records_in"] == n;
            ok_if(ok, v)
        },
    )
    .await;
    let sum: i64 = (0..n).map(|i| (i % 600) as i64).sum();
    assert_eq!(pg_counts(&pgc, table).await, (n as i64, n as i64, sum));
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_are_shown_raised_and_never_lowered() {
    let srv = nats_server().await;
    let (raw_id, rt) = raw_and_clean_with(
        &srv,
        3,
        "parts_api",
        json!({"storage_partitions": 4, "partition_key": "serverIp"}),
    )
    .await;
    let raw = srv
        .bk_ok(Method::GET, &format!("/v3/access/rawdata/{raw_id}/"), None)
        .await;
    assert_eq!(raw["storage_partitions"], 4, "{raw}");
    assert_eq!(raw["partition_key"], "serverIp", "{raw}");
    let count = |path: String| {
        let srv = &srv;
        async move { srv.bk_ok(Method::GET, &path, None).await }
    };
    assert_eq!(
        count(format!("/v3/databus/rawdatas/{raw_id}/partitions/")).await,
        4
    );
    assert_eq!(
        count(format!("/v3/databus/result_tables/{rt}/partitions/")).await,
        4
    );
    assert_eq!(
        count(format!("/v3/databus/cleans/{rt}/partitions/")).await,
        4
    );
    let table = count(format!("/v3/databus/result_tables/{rt}/")).await;
    assert_eq!(
        table["partitions"], 4,
        "a clean's table has its raw data's partitions"
    );

    // Lowering, nonsense and missing counts are refused in BKData's envelope, naming the field.
    let set = format!("/v3/databus/rawdatas/{raw_id}/set_partitions/");
    for bad in [
        json!({"partitions": 2}),
        json!({"partitions": 0}),
        json!({"partitions": 65}),
        json!({"partitions": "x"}),
        json!({}),
    ] {
        let (status, v) = srv.bk(Method::POST, &set, Some(bad.clone())).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["result"], false, "{bad}: {v}");
        assert!(v["errors"].get("partitions").is_some(), "{bad}: {v}");
    }
    assert_eq!(
        count(format!("/v3/databus/rawdatas/{raw_id}/partitions/")).await,
        4
    );

    // Raised through the clean: the raw data and the table follow.
    let n = srv
        .bk_ok(
            Method::POST,
            &format!("/v3/databus/cleans/{rt}/set_partitions/"),
            Some(json!({"partitions": 6})),
        )
        .await;
    assert_eq!(n, 6);
    assert_eq!(
        count(format!("/v3/databus/rawdatas/{raw_id}/partitions/")).await,
        6
    );
    assert_eq!(
        count(format!("/v3/databus/result_tables/{rt}/partitions/")).await,
        6
    );

    // Another app sees none of it.
    let intruder = srv.other_app("intruder");
    let (_, v) = srv
        .bk_as(
            &intruder,
            Method::GET,
            &format!("/v3/databus/rawdatas/{raw_id}/partitions/"),
            None,
        )
        .await;
    assert_eq!(v["result"], false, "{v}");
    let (_, v) = srv
        .bk_as(
            &intruder,
            Method::POST,
            &format!("/v3/databus/rawdatas/{raw_id}/set_partitions/"),
            Some(json!({"partitions": 8})),
        )
        .await;
    assert_eq!(v["result"], false, "{v}");

    // By key: every partition gets records, they add up, and one host always lands in one
    // partition.
    let (s, v) = srv.ingest(raw_id, ndjson(0..3000)).await;
    assert_eq!(s, 200, "{v}");
    let parts = v["data"]["partitions"].as_array().expect("per partition");
    assert_eq!(parts.len(), 6, "{v}");
    let total: u64 = parts.iter().map(|p| p["records"].as_u64().unwrap()).sum();
    assert_eq!(total, 3000);
    assert!(
        parts.iter().all(|p| p["records"].as_u64().unwrap() > 0),
        "{v}"
    );
    let partition_of = |v: &Value| -> Vec<usize> {
        v["data"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, p)| p["records"].as_u64().unwrap() > 0)
            .map(|(k, _)| k)
            .collect()
    };
    let (_, one) = srv.ingest(raw_id, ndjson(7..8)).await;
    let (_, again) = srv.ingest(raw_id, ndjson(7..8)).await;
    assert_eq!(partition_of(&one).len(), 1);
    assert_eq!(partition_of(&one), partition_of(&again), "{one} {again}");
    // The tail reads every partition.
    let tail = srv
        .bk_ok(
            Method::GET,
            &format!("/v3/databus/rawdatas/{raw_id}/tail/?limit=1000"),
            None,
        )
        .await;
    assert_eq!(tail.as_array().unwrap().len(), 1000);

    // A raw data made with a bad count is refused.
    let (_, v) = srv
        .bk(
            Method::POST,
            "/v3/access/rawdata/",
            Some(json!({"bk_biz_id": 3, "raw_data_name": "parts_bad", "storage_partitions": 0})),
        )
        .await;
    assert_eq!(v["result"], false, "{v}");
    assert!(v["errors"].get("storage_partitions").is_some(), "{v}");
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn four_workers_share_eight_partitions_and_one_killed_loses_nothing() {
    const N: u64 = 160_000;
    let srv = nats_server().await;
    let mut workers: Vec<WorkerProc> = (0..4).map(|_| srv.worker(&FAST)).collect();
    let (raw_id, rt) =
        shipping_to_postgres_with(&srv, 7, "part_kill", json!({"storage_partitions": 8})).await;
    let pgc = pg(&srv).await;
    // 8 cleans and 8 shippers: four each, none holds more than its share.
    eventually_showing(
        Duration::from_secs(60),
        "16 jobs shared by 4 workers",
        || async {
            let h = held(&pgc).await;
            ok_if(
                h.len() == 4 && h.values().all(|n| *n == 4),
                format!("{h:?}"),
            )
        },
    )
    .await;
    ingest_range(&srv, raw_id, 0..N / 2).await;
    let table = "mapleleaf_7.part_kill_7";
    eventually(Duration::from_secs(60), "shipping to begin", || async {
        (pg_counts(&pgc, table).await.0 > 0).then_some(())
    })
    .await;
    workers[1].signal(libc::SIGKILL);
    let _ = workers[1].child.wait();
    ingest_range(&srv, raw_id, N / 2..N).await;
    // The three left take the dead one's partitions (at most 6 each).
    eventually_showing(
        Duration::from_secs(60),
        "16 jobs over the 3 left",
        || async {
            let h = held(&pgc).await;
            ok_if(
                h.len() == 3 && h.values().sum::<i64>() == 16 && h.values().all(|n| *n <= 6),
                format!("{h:?}"),
            )
        },
    )
    .await;
    all_stored_once(&srv, &rt, table, N).await;
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_joins_mid_stream_takes_its_share() {
    const N: u64 = 120_000;
    let srv = nats_server().await;
    let _a = srv.worker(&FAST);
    let (raw_id, rt) =
        shipping_to_postgres_with(&srv, 7, "part_join", json!({"storage_partitions": 8})).await;
    let pgc = pg(&srv).await;
    eventually_showing(
        Duration::from_secs(60),
        "one worker runs all 16",
        || async {
            let h = held(&pgc).await;
            ok_if(h.values().sum::<i64>() == 16, format!("{h:?}"))
        },
    )
    .await;
    ingest_range(&srv, raw_id, 0..N / 2).await;
    let _b = srv.worker(&FAST);
    // Within a few lease periods the first gives half back and the second takes it.
    eventually_showing(Duration::from_secs(20), "8 jobs each", || async {
        let h = held(&pgc).await;
        ok_if(
            h.len() == 2 && h.values().all(|n| *n == 8),
            format!("{h:?}"),
        )
    })
    .await;
    ingest_range(&srv, raw_id, N / 2..N).await;
    all_stored_once(&srv, &rt, "mapleleaf_7.part_join_7", N).await;
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raising_the_partitions_of_a_live_raw_data_loses_nothing() {
    const N: u64 = 100_000;
    let srv = nats_server().await;
    let _a = srv.worker(&FAST);
    let _b = srv.worker(&FAST);
    let (raw_id, rt) =
        shipping_to_postgres_with(&srv, 7, "part_raise", json!({"partition_key": "serverIp"}))
            .await;
    ingest_range(&srv, raw_id, 0..N / 2).await;
    let raised = srv
        .bk_ok(
            Method::POST,
            &format!("/v3/databus/rawdatas/{raw_id}/set_partitions/"),
            Some(json!({"partitions": 4})),
        )
        .await;
    assert_eq!(raised, 4);
    let pgc = pg(&srv).await;
    eventually_showing(Duration::from_secs(60), "8 partition jobs", || async {
        let h = held(&pgc).await;
        ok_if(h.values().sum::<i64>() == 8, format!("{h:?}"))
    })
    .await;
    let reports = ingest_range(&srv, raw_id, N / 2..N).await;
    for r in &reports {
        let parts = r["partitions"].as_array().expect("partitioned now");
        assert_eq!(parts.len(), 4);
        assert!(
            parts.iter().all(|p| p["records"].as_u64().unwrap() > 0),
            "{r}"
        );
    }
    all_stored_once(&srv, &rt, "mapleleaf_7.part_raise_7", N).await;
    srv.bk_ok(Method::DELETE, &format!("/v3/databus/tasks/{rt}/"), None)
        .await;
    srv.cleanup_bus().await;
}

//! A replicated bus (issue 21): a private 3-node NATS cluster on loopback ports, streams of
//! three replicas, one node stopped and started again mid-stream. Every message published is
//! read once, in order, and the platform's databus stores every accepted record once.
use bkdata_bus::{Bus, Consumer, ConsumerOpts, NatsBus};
use bkdata_tests::seed000::*;
use bkdata_tests::*;
use reqwest::Method;
use std::time::{Duration, Instant};

/// Publish with retries under the same message id until the cluster takes it (a retry after a
/// lost answer is a duplicate the stream drops).
async fn publish_surely(bus: &NatsBus, topic: &str, id: &str, rec: Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match bus
            .publish_dedup(topic, id, std::slice::from_ref(&rec))
            .await
        {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "publish {id}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replicated_stream_keeps_every_message_while_a_node_restarts() {
    let mut cluster = PrivateNatsCluster::start(3).await;
    let prefix = format!("bkr{:08x}", rand::random::<u32>());
    let bus = NatsBus::connect(&cluster.urls(), &prefix)
        .await
        .unwrap()
        .with_replicas(3);
    const N: usize = 60;
    for i in 0..N {
        // Each node in turn is away for a stretch: wherever the stream's leader and the
        // client's connection are, one stop hits them.
        match i {
            10 => cluster.nodes[0].stop(),
            20 => cluster.nodes[0].restart(),
            30 => cluster.nodes[1].stop(),
            40 => cluster.nodes[1].restart(),
            _ => {}
        }
        publish_surely(
            &bus,
            "events",
            &format!("m{i}"),
            format!("{i}").into_bytes(),
        )
        .await;
    }
    // Just after a node comes back the cluster may still be electing: the consumer's creation
    // times out for a moment (a job would be retried), so ask again.
    let mut c = eventually_showing(Duration::from_secs(60), "a consumer", || async {
        bus.consumer("events", "reader", ConsumerOpts::default())
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let mut seen: Vec<usize> = Vec::new();
    let mut last_seq = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < N && Instant::now() < deadline {
        let Ok(batch) = c.fetch(100, Duration::from_millis(500)).await else {
            continue;
        };
        for d in batch {
            // An ack lost to a node stopping brings its message again: readers skip what is
            // at or below their position, as the shippers do.
            if d.seq > last_seq {
                last_seq = d.seq;
                for r in &d.records {
                    seen.push(String::from_utf8_lossy(r).parse().unwrap());
                }
            }
            let _ = c.ack(d).await;
        }
    }
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "every message once, in order"
    );
    // The stream is kept on three servers.
    let replicas = eventually_showing(Duration::from_secs(30), "stream info", || async {
        bus.replicas_of("events").await.map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(replicas, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_to_postgres_on_a_3_node_cluster_survives_a_node_stop() {
    let mut cluster = PrivateNatsCluster::start(3).await;
    let srv = TestServer::on_cluster(&cluster).await;
    let _w = srv.worker(&[
        ("BKDATA_JOB_LEASE_MS", "1500"),
        ("BKDATA_JOB_RETRY_BASE_MS", "100"),
    ]);
    let (raw_id, rt) = shipping_to_postgres(&srv, 9, "r3_log").await;
    let mut accepted: Vec<u64> = Vec::new();
    const BATCH: u64 = 2_000;
    for b in 0..12u64 {
        match b {
            4 => cluster.nodes[0].stop(),
            8 => cluster.nodes[0].restart(),
            _ => {}
        }
        let range = b * BATCH..(b + 1) * BATCH;
        let (s, v) = srv.ingest(raw_id, ndjson(range.clone())).await;
        match (s, v["code"].as_str()) {
            (200, _) if v["result"] == true => accepted.extend(range),
            // A leader moving may refuse a batch for a moment: the part taken is said.
            (200, Some("1500503")) => {
                let n = v["errors"]["accepted_records"].as_u64().unwrap_or(0);
                accepted.extend(range.start..range.start + n);
            }
            _ => panic!("ingest answered {s}: {v}"),
        }
    }
    // The raw data's stream was made with three replicas.
    let bkdata_bus::AnyBus::Nats(bus) = &srv.bus else {
        panic!("the server runs on the cluster")
    };
    let raw_topic = bkdata_databus::rawdata::topic(raw_id);
    let replicas = eventually_showing(Duration::from_secs(30), "stream info", || async {
        bus.replicas_of(&raw_topic).await.map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(replicas, 3);
    // Two of three servers keep the streams: nearly everything is taken while one is away.
    assert!(accepted.len() as u64 >= 10 * BATCH, "{}", accepted.len());
    let pgc = pg(&srv).await;
    let table = "mapleleaf_9.r3_log_9";
    let want = accepted.len() as i64;
    eventually_showing(
        Duration::from_secs(120),
        "accepted records in PostgreSQL",
        || async {
            let (rows, distinct, _) = pg_counts(&pgc, table).await;
            if rows == want && distinct == want {
                return Ok(());
            }
            let (_, v) = srv
                .bk(Method::GET, &format!("/v3/databus/tasks/{rt}/"), None)
                .await;
            Err(format!(
                "{rows} rows ({distinct} distinct) of {want} accepted; task {}",
                v["data"]
            ))
        },
    )
    .await;
    let n: i64 = pgc
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE gseindex = ANY($1)"),
            &[&accepted.iter().map(|i| *i as i64).collect::<Vec<_>>()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, want, "the stored records are the accepted ones");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_made_before_replication_is_raised_to_the_replicas_asked() {
    let cluster = PrivateNatsCluster::start(3).await;
    let prefix = format!("bku{:08x}", rand::random::<u32>());
    let single = NatsBus::connect(&cluster.urls(), &prefix).await.unwrap();
    publish_surely(&single, "logs", "a", b"before".to_vec()).await;
    assert_eq!(single.replicas_of("logs").await.unwrap(), 1);
    // The operator turns replication on: the next process to use the stream raises it.
    let replicated = NatsBus::connect(&cluster.urls(), &prefix)
        .await
        .unwrap()
        .with_replicas(3);
    publish_surely(&replicated, "logs", "b", b"after".to_vec()).await;
    let replicas = eventually_showing(Duration::from_secs(30), "three replicas", || async {
        match replicated.replicas_of("logs").await {
            Ok(3) => Ok(3),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(replicas, 3);
    // What the stream held before is still there, once.
    let mut c = eventually_showing(Duration::from_secs(60), "a consumer", || async {
        replicated
            .consumer("logs", "reader", ConsumerOpts::default())
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 2 && Instant::now() < deadline {
        for d in c
            .fetch(10, Duration::from_millis(500))
            .await
            .unwrap_or_default()
        {
            got.extend(
                d.records
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned()),
            );
            let _ = c.ack(d).await;
        }
    }
    assert_eq!(got, ["before", "after"]);
}

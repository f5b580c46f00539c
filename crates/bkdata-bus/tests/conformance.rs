//! One conformance suite, run against the in-process bus and NATS JetStream (the real server
//! on 127.0.0.1:4222, `NATS_URL` to change it). Each test uses its own topics.
use bkdata_bus::{Bus, Consumer, ConsumerOpts, Delivery, MemoryBus, NatsBus};
use rand::Rng;
use std::time::{Duration, Instant};

fn topic(tag: &str) -> String {
    format!("t{:08x}.{tag}", rand::thread_rng().gen::<u32>())
}

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn nats() -> NatsBus {
    NatsBus::connect(
        &nats_url(),
        &format!("bkt{:08x}", rand::thread_rng().gen::<u32>()),
    )
    .await
    .expect("NATS with JetStream on 127.0.0.1:4222")
}

fn recs(batch: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"batch\": {batch}, \"i\": {i}}}").into_bytes())
        .collect()
}

fn opts(ack_ms: u64) -> ConsumerOpts {
    ConsumerOpts {
        ack_wait: Duration::from_millis(ack_ms),
        from_start: true,
        start_seq: None,
        take_over: false,
    }
}

/// Fetch until `n` deliveries arrived (or the deadline passes).
async fn fetch_n<C: Consumer>(c: &mut C, n: usize, within: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(
            c.fetch(n - out.len(), Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    out
}

async fn ordered_batches_and_acks<B: Bus>(bus: B) {
    let t = topic("ordered");
    let mut seqs = Vec::new();
    for b in 0..5 {
        seqs.push(bus.publish(&t, &recs(b, 100)).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    let mut c = bus.consumer(&t, "reader", opts(30_000)).await.unwrap();
    let got = fetch_n(&mut c, 5, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 5);
    for (b, d) in got.iter().enumerate() {
        assert_eq!(d.seq, seqs[b]);
        assert!(!d.redelivered);
        assert_eq!(d.records, recs(b, 100), "batch {b} intact and in order");
    }
    assert_eq!(
        bus.lag(&t, "reader").await.unwrap(),
        5,
        "delivered but unacked counts as lag"
    );
    for d in got {
        c.ack(d).await.unwrap();
    }
    assert_eq!(bus.lag(&t, "reader").await.unwrap(), 0);
    // Tail: the latest records across batch boundaries, oldest first.
    let tail = bus.tail(&t, 150).await.unwrap();
    assert_eq!(tail.len(), 150);
    assert_eq!(tail[0], recs(3, 100)[50]);
    assert_eq!(tail[149], recs(4, 100)[99]);
    assert!(bus.tail(&topic("empty"), 5).await.unwrap().is_empty());
    assert!(c
        .fetch(10, Duration::from_millis(100))
        .await
        .unwrap()
        .is_empty());
}

async fn unacked_messages_are_redelivered<B: Bus>(bus: B) {
    let t = topic("redeliver");
    bus.publish(&t, &recs(0, 3)).await.unwrap();
    bus.publish(&t, &recs(1, 3)).await.unwrap();
    let mut c = bus.consumer(&t, "slow", opts(1_000)).await.unwrap();
    let first = fetch_n(&mut c, 2, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 2);
    let mut it = first.into_iter();
    let (a, b) = (it.next().unwrap(), it.next().unwrap());
    c.ack(a).await.unwrap();
    let lost_seq = b.seq;
    drop(b); // never acked
    let again = fetch_n(&mut c, 1, Duration::from_secs(10)).await;
    assert_eq!(again.len(), 1, "redelivered after ack_wait");
    assert_eq!(again[0].seq, lost_seq);
    assert!(again[0].redelivered);
    assert_eq!(again[0].records, recs(1, 3));
    c.ack(again.into_iter().next().unwrap()).await.unwrap();
    assert!(
        c.fetch(10, Duration::from_millis(1_500))
            .await
            .unwrap()
            .is_empty(),
        "acked messages stay acked"
    );
}

async fn durable_consumers_resume<B: Bus>(bus: B) {
    let t = topic("durable");
    for b in 0..4 {
        bus.publish(&t, &recs(b, 1)).await.unwrap();
    }
    {
        let mut c = bus.consumer(&t, "resume", opts(30_000)).await.unwrap();
        for d in fetch_n(&mut c, 2, Duration::from_secs(5)).await {
            c.ack(d).await.unwrap();
        }
    }
    // A new handle on the same name (another worker, a restart) goes on after the acks.
    let mut c = bus.consumer(&t, "resume", opts(30_000)).await.unwrap();
    let rest = fetch_n(&mut c, 2, Duration::from_secs(5)).await;
    assert_eq!(
        rest.iter().map(|d| d.records.clone()).collect::<Vec<_>>(),
        vec![recs(2, 1), recs(3, 1)]
    );
    // Another name reads everything on its own (fan-out), and topics are isolated.
    let mut other = bus.consumer(&t, "audit", opts(30_000)).await.unwrap();
    assert_eq!(
        fetch_n(&mut other, 4, Duration::from_secs(5)).await.len(),
        4
    );
    let mut empty = bus
        .consumer(&topic("other"), "resume", opts(30_000))
        .await
        .unwrap();
    assert!(empty
        .fetch(10, Duration::from_millis(100))
        .await
        .unwrap()
        .is_empty());
}

/// A reader that keeps its own position repositions its consumer there: what was delivered
/// and not acked is dropped, and delivery goes on in order from the position.
async fn consumers_restart_at_a_sequence<B: Bus>(bus: B) {
    let t = topic("startseq");
    let mut seqs = Vec::new();
    for b in 0..5 {
        seqs.push(bus.publish(&t, &recs(b, 1)).await.unwrap());
    }
    let mut c = bus.consumer(&t, "ship", opts(30_000)).await.unwrap();
    let first = fetch_n(&mut c, 4, Duration::from_secs(5)).await;
    c.ack(first.into_iter().next().unwrap()).await.unwrap(); // 2..4 stay unacked
    let mut again = bus
        .consumer(
            &t,
            "ship",
            ConsumerOpts {
                start_seq: Some(seqs[2]),
                ..opts(30_000)
            },
        )
        .await
        .unwrap();
    let got = fetch_n(&mut again, 3, Duration::from_secs(5)).await;
    assert_eq!(
        got.iter().map(|d| d.seq).collect::<Vec<_>>(),
        seqs[2..].to_vec()
    );
    assert_eq!(got[0].records, recs(2, 1));
    for d in got {
        again.ack(d).await.unwrap();
    }
    assert!(again
        .fetch(10, Duration::from_millis(200))
        .await
        .unwrap()
        .is_empty());
}

async fn handles_on_one_name_share_the_work<B: Bus>(bus: B) {
    let t = topic("shared");
    for b in 0..20 {
        bus.publish(&t, &recs(b, 2)).await.unwrap();
    }
    let mut c1 = bus.consumer(&t, "pool", opts(30_000)).await.unwrap();
    let mut c2 = bus.consumer(&t, "pool", opts(30_000)).await.unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 20 && Instant::now() < deadline {
        for c in [&mut c1, &mut c2] {
            for d in c.fetch(3, Duration::from_millis(100)).await.unwrap() {
                seen.push(d.seq);
                c.ack(d).await.unwrap();
            }
        }
    }
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!(
        (before, seen.len()),
        (20, 20),
        "every message exactly once across both handles"
    );
}

async fn fetch_waits_for_new_messages<B: Bus>(bus: B) {
    let t = topic("wait");
    let mut c = bus.consumer(&t, "waiter", opts(30_000)).await.unwrap();
    let start = Instant::now();
    assert!(c
        .fetch(1, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "waited {:?}",
        start.elapsed()
    );
    let b2 = bus.clone();
    let t2 = t.clone();
    let publisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b2.publish(&t2, &recs(9, 1)).await.unwrap()
    });
    let got = c.fetch(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1, "woken by the publish");
    assert_eq!(got[0].seq, publisher.await.unwrap());
    // Bad names are refused.
    assert!(bus.publish("bad topic", &recs(0, 1)).await.is_err());
    assert!(bus.publish(&t, &[b"two\nlines".to_vec()]).await.is_err());
}

/// A waiting fetch returns what is ready: it does not hold it to wait for `max` or out its
/// wait (a NATS pull for many used to, until it expired).
async fn a_waiting_fetch_returns_what_is_ready<B: Bus>(bus: B) {
    let t = topic("ready");
    for b in 0..3 {
        bus.publish(&t, &recs(b, 2)).await.unwrap();
    }
    let mut c = bus.consumer(&t, "ready", opts(30_000)).await.unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    // Ready here may mean after a few fetches (the messages reach a consumer one by one),
    // never after the wait.
    while got.len() < 3 && start.elapsed() < Duration::from_secs(10) {
        got.extend(c.fetch(100, Duration::from_secs(10)).await.unwrap());
    }
    assert_eq!(got.len(), 3);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?} for messages that were ready",
        start.elapsed()
    );
    c.ack_all(got).await.unwrap();
}

async fn take_over<B: Bus>(bus: &B, t: &str) -> B::Consumer {
    let opts = ConsumerOpts {
        take_over: true,
        ..opts(60_000)
    };
    bus.consumer(t, "clean", opts).await.unwrap()
}

/// A new owner taking a consumer over gets what the last one held unacked at once and in
/// order, before newer messages (not after their ack wait, behind them).
async fn a_take_over_gets_the_unacked_first_in_order<B: Bus>(bus: B) {
    let t = topic("takeover");
    let mut seqs = Vec::new();
    for b in 0..3 {
        seqs.push(bus.publish(&t, &recs(b, 1)).await.unwrap());
    }
    let mut dead = bus.consumer(&t, "clean", opts(60_000)).await.unwrap();
    let held = fetch_n(&mut dead, 3, Duration::from_secs(5)).await;
    assert_eq!(held.len(), 3);
    // The first is acked; the owner dies holding the other two.
    dead.ack(held.into_iter().next().unwrap()).await.unwrap();
    for b in 3..5 {
        seqs.push(bus.publish(&t, &recs(b, 1)).await.unwrap());
    }
    let mut heir = take_over(&bus, &t).await;
    let start = Instant::now();
    let got = fetch_n(&mut heir, 4, Duration::from_secs(10)).await;
    assert_eq!(
        got.iter().map(|d| d.seq).collect::<Vec<_>>(),
        seqs[1..].to_vec(),
        "the held ones first, then the new, each once"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "not after the ack wait"
    );
    heir.ack_all(got).await.unwrap();
    // Nothing held: a take-over changes nothing.
    let mut next = take_over(&bus, &t).await;
    assert!(next
        .fetch(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
}

macro_rules! suite {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread")]
            async fn memory() {
                $name(MemoryBus::new()).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn jetstream() {
                let bus = nats().await;
                $name(bus.clone()).await;
                assert!(bus.delete_all_topics().await.unwrap() >= 1);
            }
        }
    };
}

async fn duplicate_ids_are_dropped<B: Bus>(bus: B) {
    let t = topic("dedup");
    let first = bus.publish_dedup(&t, "raw.1:7", &recs(0, 2)).await.unwrap();
    assert!(first.is_some());
    assert_eq!(
        bus.publish_dedup(&t, "raw.1:7", &recs(0, 2)).await.unwrap(),
        None,
        "same id: dropped"
    );
    assert!(
        bus.publish_dedup(&t, "raw.1:8", &recs(1, 2))
            .await
            .unwrap()
            .unwrap()
            > first.unwrap()
    );
    let mut c = bus.consumer(&t, "d", opts(30_000)).await.unwrap();
    assert_eq!(
        fetch_n(&mut c, 3, Duration::from_millis(500)).await.len(),
        2
    );
}

/// Batches published together land in order, each once; acked together, none comes back.
async fn batches_published_and_acked_together<B: Bus>(bus: B) {
    let t = topic("many");
    let batch = |tag: usize, n: usize| {
        let mut b = bkdata_bus::Batch::default();
        for r in recs(tag, n) {
            b.push_with(|buf| buf.extend_from_slice(&r)).unwrap();
        }
        b
    };
    let mut bad = bkdata_bus::Batch::default();
    assert!(bad.push_with(|buf| buf.extend_from_slice(b"a\nb")).is_err());
    assert!(
        bad.is_empty() && bad.payload().is_empty(),
        "a refused record is not kept"
    );
    let seqs = bus
        .publish_dedup_batches(
            &t,
            (0..5)
                .map(|i| (format!("raw.1:{i}"), batch(i, i + 1)))
                .collect(),
        )
        .await
        .unwrap();
    assert!(seqs.iter().all(Option::is_some), "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let again = bus
        .publish_dedup_batches(
            &t,
            vec![
                ("raw.1:4".into(), batch(4, 5)),
                ("raw.1:5".into(), batch(5, 1)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(again[0], None, "a repeated id is dropped");
    assert!(again[1].unwrap() > seqs[4].unwrap());
    let mut c = bus.consumer(&t, "m", opts(300)).await.unwrap();
    let got = fetch_n(&mut c, 6, Duration::from_secs(5)).await;
    let sizes: Vec<usize> = got.iter().map(|d| d.records.len()).collect();
    assert_eq!(sizes, vec![1, 2, 3, 4, 5, 1]);
    assert_eq!(got[2].records, recs(2, 3));
    c.ack_all(got).await.unwrap();
    // Past the ack wait, nothing is redelivered.
    assert!(fetch_n(&mut c, 1, Duration::from_millis(800))
        .await
        .is_empty());
}

/// The latest message with its sequence and the id it was published with.
async fn last_message_with_its_id<B: Bus>(bus: B) {
    let t = topic("last");
    assert_eq!(bus.last(&t).await.unwrap(), None, "an empty topic");
    bus.publish_dedup(&t, "f1.w60000", &recs(0, 2))
        .await
        .unwrap();
    let seq = bus
        .publish_dedup(&t, "f1.w120000", &recs(3, 1))
        .await
        .unwrap();
    let last = bus.last(&t).await.unwrap().unwrap();
    assert_eq!(Some(last.seq), seq);
    assert_eq!(last.msg_id.as_deref(), Some("f1.w120000"));
    assert_eq!(last.records, recs(3, 1));
    let plain = bus.publish(&t, &recs(4, 3)).await.unwrap();
    let last = bus.last(&t).await.unwrap().unwrap();
    assert_eq!(
        (last.seq, last.msg_id, last.records.len()),
        (plain, None, 3)
    );
}

suite!(last_message_with_its_id);
suite!(batches_published_and_acked_together);
suite!(duplicate_ids_are_dropped);
suite!(ordered_batches_and_acks);
suite!(unacked_messages_are_redelivered);
suite!(durable_consumers_resume);
suite!(consumers_restart_at_a_sequence);
suite!(handles_on_one_name_share_the_work);
suite!(fetch_waits_for_new_messages);
suite!(a_waiting_fetch_returns_what_is_ready);
suite!(a_take_over_gets_the_unacked_first_in_order);

/// Streams get the configured retention (JetStream drops records older than it).
#[tokio::test(flavor = "multi_thread")]
async fn jetstream_streams_get_the_retention() {
    let bus = nats().await.with_max_age(Duration::from_secs(3600));
    let t = topic("retention");
    bus.publish(&t, &recs(0, 1)).await.unwrap();
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(bus.stream_name(&t)).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert!(bus.delete_all_topics().await.unwrap() >= 1);
}

//! The builder in workers: an `alert_build` job consumes the cleaned events from the bus
//! topic `alert.cleaned` (the HTTP ingest and the `alert_ingest` job publish there, as
//! bk-monitor's access module hands events to its builder through Kafka), builds each fetch in
//! one transaction and acks it after the commit; between fetches it drains the inbox (events
//! raised from inside the platform), closes the alerts whose `next_status` is due and sends
//! queued documents to Elasticsearch. The job runs until its lease is lost; ingest and each
//! worker's timer (`BKDATA_ALERT_POLL_MS`) queue it again. Builders that overlap (a lease
//! handed over) are safe all the same (see `store`).
use crate::store::{build, build_batch, close_due, Cache, Incoming};
use bkdata_bus::{AnyBus, Bus, Consumer, ConsumerOpts};
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult, NoPayload};
use bkdata_models::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The topic cleaned events wait in for a builder: `{app}\t{head}\t{document}` records.
pub const CLEANED_TOPIC: &str = "alert.cleaned";
/// The builders' durable consumer.
pub const BUILDER: &str = "alert_build";
/// Inbox events a builder pass takes at once.
pub const BATCH: i64 = 5_000;
/// Bus messages a builder pass takes at once: each holds up to `MESSAGE_BYTES` of events
/// (~470 of the bench's ~1.1 KB records), so a pass builds up to ~90,000 events. The bigger
/// the pass, the fewer times each touched alert is locked, loaded and written: a pass takes
/// only what is ready, so passes grow only when the builder falls behind.
pub const FETCH_MESSAGES: usize = 192;
pub const MESSAGE_BYTES: usize = 512 * 1024;

/// Queue a build unless one is queued or running.
pub fn schedule(conn: &mut diesel::PgConnection) -> diesel::QueryResult<bool> {
    BuildJob::enqueue_unique(conn, &NoPayload {})
}

/// Hand cleaned events to the builders: published in order, in messages of at most
/// `MESSAGE_BYTES`; stored by the bus when this returns.
pub async fn publish(bus: &AnyBus, events: &[Incoming]) -> anyhow::Result<()> {
    let mut batches = Vec::new();
    let mut batch = bkdata_bus::Batch::with_capacity(MESSAGE_BYTES);
    let mut record = Vec::with_capacity(4096);
    for e in events {
        record.clear();
        e.write_record(&mut record);
        // The record and its newline.
        if !batch.is_empty() && batch.payload().len() + record.len() + 1 > MESSAGE_BYTES {
            batches.push(std::mem::replace(
                &mut batch,
                bkdata_bus::Batch::with_capacity(MESSAGE_BYTES),
            ));
        }
        batch.push_with(|b| b.extend_from_slice(&record))?;
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    if batches.is_empty() {
        return Ok(());
    }
    // Ids only so the bus takes the batches together: each is new.
    static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let stamp = format!(
        "alert-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let batches = batches
        .into_iter()
        .map(|b| {
            let n = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (format!("{stamp}-{n}"), b)
        })
        .collect();
    bus.publish_dedup_batches(CLEANED_TOPIC, batches).await?;
    Ok(())
}

/// The Redis settings of the alert path.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub redis_url: Option<String>,
    /// bk-monitor's key prefix `{APP_CODE}.{ee|ce}[ENV]`.
    pub redis_prefix: String,
    /// The `es` storage cluster alert and event documents go to (none: no documents).
    pub es_cluster: Option<String>,
}

impl AlertConfig {
    pub fn from_env() -> Self {
        use bkdata_models::env::var as env;
        AlertConfig {
            redis_url: Some(env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into())),
            redis_prefix: env("BKDATA_ALERT_REDIS_PREFIX")
                .unwrap_or_else(|| "bkmonitorv3.ee".into()),
            es_cluster: env("BKDATA_ALERT_ES_CLUSTER"),
        }
    }
}

pub struct BuildJob {
    pool: PgPool,
    bus: AnyBus,
    /// One cache (Redis connection, sequence floor) per lane.
    lanes: Arc<Vec<Mutex<Cache>>>,
    es_cluster: Option<String>,
    es: Arc<tokio::sync::Mutex<Option<crate::es::EsWriter>>>,
}

/// A pass is built in this many lanes at once, each in its own transaction on its own
/// connection: the events of one `dedupe_md5` always go to the same lane, so lanes never
/// wait for each other's locks and each group keeps its order. Three on two cores: while one
/// lane does its Rust work or waits on its commit and Redis, the others keep Postgres busy
/// (the bench: 19.8–26.4 k events/s with two, 22.4–24.8 k with three).
pub const LANES: usize = 3;

impl BuildJob {
    pub fn new(pool: PgPool, bus: AnyBus, config: &AlertConfig) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let mut cache = Cache::new(config.redis_url.as_deref(), &config.redis_prefix);
                cache.es_outbox = config.es_cluster.is_some();
                Mutex::new(cache)
            })
            .collect();
        BuildJob {
            pool,
            bus,
            lanes: Arc::new(lanes),
            es_cluster: config.es_cluster.clone(),
            es: Arc::default(),
        }
    }
}

fn lock(cache: &Mutex<Cache>) -> anyhow::Result<std::sync::MutexGuard<'_, Cache>> {
    cache
        .lock()
        .map_err(|_| anyhow::anyhow!("alert cache lock poisoned"))
}

/// The lane of a `dedupe_md5` (hex) among `n`: by its lock bucket, so lanes never wait for
/// each other's locks.
fn lane_of(md5: &str, n: usize) -> usize {
    crate::store::bucket_of(md5) % n.max(1)
}

/// Build one fetch's records, parsed and built in lanes at once; a record that is not a
/// queued event is logged and skipped. The pass counts only when every lane committed (a
/// lane that failed has its messages delivered again; what the others stored is skipped).
pub fn build_records(
    pool: &PgPool,
    lanes: &[Mutex<Cache>],
    records: Vec<Vec<u8>>,
) -> anyhow::Result<usize> {
    let t = Instant::now();
    let n_lanes = lanes.len().max(1);
    let chunk = records.len().div_ceil(n_lanes).max(1);
    // A part lost to a panic fails the pass (nothing is acked), never drops its events.
    let parsed: Vec<Vec<Incoming>> = std::thread::scope(|s| {
        let parts: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|r| match Incoming::from_record(r) {
                            Ok(i) => Some(i),
                            Err(e) => {
                                log::warn!("{CLEANED_TOPIC}: {e}; skipped");
                                None
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("parsing queued events panicked"))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut split: Vec<Vec<Incoming>> = (0..n_lanes).map(|_| Vec::new()).collect();
    for i in parsed.into_iter().flatten() {
        split[lane_of(&i.event.dedupe_md5, n_lanes)].push(i);
    }
    let n: usize = split.iter().map(Vec::len).sum();
    let parse = t.elapsed();
    let now = chrono::Utc::now().timestamp();
    let results: Vec<anyhow::Result<String>> = std::thread::scope(|s| {
        let running: Vec<_> = split
            .into_iter()
            .zip(lanes)
            .filter(|(l, _)| !l.is_empty())
            .map(|(l, cache)| {
                s.spawn(move || {
                    let mut conn = pool.get()?;
                    let st = build(&mut conn, &mut *lock(cache)?, l, now)?;
                    Ok(format!(
                        "{} events ({} duplicates) into {} alerts",
                        st.events, st.duplicates, st.alerts_written
                    ))
                })
            })
            .collect();
        running
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a builder lane panicked")))
            })
            .collect()
    });
    let done = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    log::debug!(
        "built {n} events: parse {parse:?}, lanes {done:?}, all {:?}",
        t.elapsed()
    );
    Ok(n)
}

/// Drain the inbox, then close what is due; answers the events built.
pub fn drain(pool: &PgPool, cache: &Mutex<Cache>) -> anyhow::Result<usize> {
    let mut conn = pool.get()?;
    let mut cache = lock(cache)?;
    let mut total = 0;
    loop {
        let now = chrono::Utc::now().timestamp();
        let s = build_batch(&mut conn, &mut cache, BATCH, now)?;
        total += s.events;
        if (s.events as i64) < BATCH {
            break;
        }
    }
    close_due(&mut conn, &mut cache, chrono::Utc::now().timestamp())?;
    Ok(total)
}

impl Job for BuildJob {
    const NAME: &'static str = "alert_build";
    /// Queued again by ingest and every worker's timer; it must come back after any fault.
    const MAX_ATTEMPTS: i32 = 1_000_000;
    type Payload = NoPayload;

    fn run(&self, _: NoPayload, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        let (pool, bus, lanes) = (self.pool.clone(), self.bus.clone(), self.lanes.clone());
        let (cluster, es) = (self.es_cluster.clone(), self.es.clone());
        Box::pin(async move {
            let mut consumer = bus
                .consumer(
                    CLEANED_TOPIC,
                    BUILDER,
                    ConsumerOpts {
                        ack_wait: Duration::from_secs(120),
                        from_start: true,
                        start_seq: None,
                        // What a dead builder held comes first: left to its ack wait, it
                        // would come behind newer events and be taken as stale.
                        take_over: true,
                    },
                )
                .await?;
            let mut swept: Option<Instant> = None;
            loop {
                if *ctx.lease_lost.borrow() {
                    // Another worker's timer queues the next builder.
                    return Ok(());
                }
                // What is ready (everything that arrived while the last pass was written),
                // else wait a little for more.
                let mut deliveries = consumer.fetch(FETCH_MESSAGES, Duration::ZERO).await?;
                if deliveries.is_empty() {
                    deliveries = consumer
                        .fetch(FETCH_MESSAGES, Duration::from_millis(250))
                        .await?;
                }
                let idle = deliveries.is_empty();
                if !idle {
                    let records: Vec<Vec<u8>> = deliveries
                        .iter_mut()
                        .flat_map(|d| std::mem::take(&mut d.records))
                        .collect();
                    let (p, l) = (pool.clone(), lanes.clone());
                    tokio::task::spawn_blocking(move || build_records(&p, &l, records)).await??;
                    // Acked once committed: a crash before this delivers them again, and the
                    // pass that gets them skips what is stored.
                    consumer.ack_all(deliveries).await?;
                }
                if idle || swept.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    swept = Some(Instant::now());
                    let (p, l) = (pool.clone(), lanes.clone());
                    tokio::task::spawn_blocking(move || drain(&p, &l[0])).await??;
                    if let Some(name) = &cluster {
                        // Documents wait in the outbox while ES is away; the build is done.
                        if let Err(e) = flush_es(&pool, name, &es).await {
                            log::warn!(
                                "alert documents to es cluster {name}: {e:#}; they stay queued"
                            );
                        }
                    }
                }
            }
        })
    }
}

/// Send the queued alert and event documents to the cluster, until the queue is empty.
async fn flush_es(
    pool: &PgPool,
    cluster: &str,
    es: &tokio::sync::Mutex<Option<crate::es::EsWriter>>,
) -> anyhow::Result<()> {
    let mut guard = es.lock().await;
    let writer = match guard.as_mut() {
        Some(w) => w,
        None => {
            let cluster = cluster.to_string();
            let w = bkdata_models::db::call(pool, move |c| {
                crate::es::EsWriter::for_cluster(c, &cluster)
            })
            .await?;
            guard.insert(w)
        }
    };
    loop {
        let f = writer.flush(pool, 2_000).await?;
        if f.written + f.refused < 2_000 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_queued_event_round_trips_and_keeps_its_lane() {
        let e = crate::event::clean(
            &json!({"event_id": "e1", "alert_name": "cpu", "target": "h1", "time": 1_700_000_000,
                    "description": "tab\there, newline\nthere"}),
            1_700_000_000,
        )
        .unwrap();
        let i = Incoming::new("app-1", e);
        let r = i.record();
        assert!(!r.contains(&b'\n'), "a record is one line");
        let back = Incoming::from_record(&r).unwrap();
        // The builder reads its fields back; the document stays the same text.
        assert_eq!((back.app.as_str(), &back.event), ("app-1", &i.event));
        // A record from before heads (the document alone) reads as the same event.
        let old = Incoming::from_record(format!("app-1\t{}", i.doc()).as_bytes()).unwrap();
        assert_eq!(old.event, i.event);
        let head_only = format!("app-1\t{}", String::from_utf8_lossy(&r[6..]));
        let head_only = head_only.split('\t').take(2).collect::<Vec<_>>().join("\t");
        assert!(
            Incoming::from_record(head_only.as_bytes()).is_err(),
            "no document"
        );
        assert!(
            Incoming::from_record(b"app\t[\"id\", 1]\t{}").is_err(),
            "a short head"
        );
        assert!(Incoming::from_record(b"no tab here").is_err());
        assert!(Incoming::from_record(b"app\t[1]").is_err(), "not an object");
        // A key given twice counts once, the last; a null target prints as Python's None.
        let odd =
            Incoming::from_record(br#"app	{"id":"a","id":"b","target":null,"time":"x"}"#).unwrap();
        assert_eq!(
            (
                odd.event.id.as_str(),
                odd.event.target.as_str(),
                odd.event.time
            ),
            ("b", "None", 0)
        );
        // A dedupe_md5 always lands in the same lane, and lanes are all used.
        let md5 = &i.event.dedupe_md5;
        assert_eq!(lane_of(md5, 2), lane_of(md5, 2));
        let used: std::collections::HashSet<usize> = ["00", "01", "fe", "ff"]
            .iter()
            .map(|h| lane_of(h, 2))
            .collect();
        assert_eq!(used.len(), 2);
        assert_eq!(lane_of("zz", 2), 0, "not hex: the first lane");
    }
}

//! The bus subject for producers: events published to the topic `alert.events`
//! (`{BKDATA_BUS_PREFIX}.alert.events` on NATS), one JSON event a record (a line). The bus is
//! inside the platform's trust boundary, as for raw data: each event names its app in
//! `bk_app_code`. An `alert_ingest` job (one at a time, queued by every worker's timer) cleans
//! them as the HTTP ingest does, hands them to the builders (`job::publish`) and acks them
//! only after that; a bad event is logged with its reason and skipped.
use crate::store;
use bkdata_bus::{AnyBus, Bus, Consumer, ConsumerOpts};
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult, NoPayload};
use bkdata_models::PgPool;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

pub const TOPIC: &str = "alert.events";
const CONSUMER: &str = "alert_ingest";

/// Queue the consumer unless it is queued or running.
pub fn schedule(conn: &mut diesel::PgConnection) -> diesel::QueryResult<bool> {
    IngestJob::enqueue_unique(conn, &NoPayload {})
}

pub struct IngestJob {
    pool: PgPool,
    bus: AnyBus,
}

impl IngestJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        IngestJob { pool, bus }
    }
}

/// Clean one fetch's events, grouped by app: the events for the builders and the number
/// rejected.
pub fn clean_records(
    pool: &PgPool,
    records: Vec<Vec<u8>>,
) -> anyhow::Result<(Vec<store::Incoming>, usize)> {
    let now = chrono::Utc::now().timestamp();
    /// The app of an event record (its other fields are read by the clean).
    #[derive(serde::Deserialize)]
    struct AppOf<'a> {
        #[serde(borrow)]
        bk_app_code: Option<Cow<'a, str>>,
    }
    let mut by_app: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut rejected = 0;
    for r in &records {
        let parsed = std::str::from_utf8(r)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<AppOf>(t)
                    .map(|a| (t, a))
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok((text, a)) => match a.bk_app_code {
                Some(app) if !app.is_empty() => {
                    by_app.entry(app.into_owned()).or_default().push(text)
                }
                _ => {
                    rejected += 1;
                    log::warn!("alert event from the bus without bk_app_code: skipped");
                }
            },
            Err(e) => {
                rejected += 1;
                log::warn!("alert event from the bus is not JSON ({e}): skipped");
            }
        }
    }
    let mut conn = pool.get()?;
    let mut out = Vec::new();
    for (app, events) in by_app {
        let (r, fresh) = store::accept(&mut conn, &app, &events, usize::MAX, now)?;
        for x in &r.rejected {
            log::warn!("alert event from the bus rejected: {}", x.reason);
        }
        rejected += r.rejected.len();
        out.extend(fresh);
    }
    Ok((out, rejected))
}

impl Job for IngestJob {
    const NAME: &'static str = "alert_ingest";
    /// Queued again by every worker's timer; it must come back after any fault.
    const MAX_ATTEMPTS: i32 = 1_000_000;
    type Payload = NoPayload;

    fn run(&self, _: NoPayload, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        let (pool, bus) = (self.pool.clone(), self.bus.clone());
        Box::pin(async move {
            let mut consumer = bus
                .consumer(
                    TOPIC,
                    CONSUMER,
                    ConsumerOpts {
                        ack_wait: Duration::from_secs(60),
                        from_start: true,
                        start_seq: None,
                        // What a dead consumer held comes first, in order (the builder
                        // takes an event older than its alert's latest as stale).
                        take_over: true,
                    },
                )
                .await?;
            loop {
                if *ctx.lease_lost.borrow() {
                    // Another worker's timer queues the next consumer.
                    return Ok(());
                }
                let mut deliveries = consumer.fetch(64, Duration::from_millis(300)).await?;
                if deliveries.is_empty() {
                    continue;
                }
                let records: Vec<Vec<u8>> = deliveries
                    .iter_mut()
                    .flat_map(|d| std::mem::take(&mut d.records))
                    .collect();
                let p = pool.clone();
                let (events, _) =
                    tokio::task::spawn_blocking(move || clean_records(&p, records)).await??;
                crate::job::publish(&bus, &events).await?;
                consumer.ack_all(deliveries).await?;
            }
        })
    }
}

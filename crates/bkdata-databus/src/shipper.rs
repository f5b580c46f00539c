//! A running shipper: the `ship_run` job, long-running and leased like a clean, so one worker
//! runs it and it moves when that worker dies. It reads `rt.{result_table_id}` with the durable
//! consumer `ship_{type}_{rt}`, writes each batch of messages to the storage together with the
//! position of the last one (in the storage, in the same transaction where there is one), and
//! only then acks. Each time it starts it repositions its consumer just after the storage's
//! committed position, so after a crash it reads on from exactly what was written: nothing is
//! lost and nothing written twice. (Messages redelivered within a run, after a slow write, are
//! at or below that position and are acked without writing.)
use crate::physical::{self, shipper_name};
use bkdata_bus::{partition_topic, AnyBus, Bus, Consumer, ConsumerOpts};
use bkdata_models::databus::{DataStorage, StorageCluster};
use bkdata_models::db::call as db;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult};
use bkdata_models::schema::{
    data_storages as ds, shipper_dead_letters as dl, shipper_partitions as sp, shippers as sh,
};
use bkdata_models::states::ShipperStatus;
use bkdata_models::PgPool;
use bkdata_storage::{Row, RowParser};
use diesel::prelude::*;
use std::time::{Duration, Instant};

/// A shipper's unacked messages come back this long after its worker dies.
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// Messages per write (each carries up to a raw batch's rows, 1,000 by default).
pub const FETCH: usize = 32;

#[derive(Clone)]
pub struct ShipJob {
    pool: PgPool,
    bus: AnyBus,
}

/// The binding, its cluster, the shipper status and the position its counters reach.
type Loaded = (DataStorage, StorageCluster, ShipperStatus, u64);

impl ShipJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        ShipJob { pool, bus }
    }

    async fn message(&self, rt: &str, st: &str, msg: String) -> anyhow::Result<()> {
        let (rt, st) = (rt.to_string(), st.to_string());
        db(&self.pool, move |conn| {
            let before: Option<String> = sh::table
                .find((&rt, &st))
                .select(sh::status_message)
                .first(conn)
                .optional()?;
            diesel::update(sh::table.find((&rt, &st)))
                .set((
                    sh::status_message.eq(&msg),
                    sh::updated_at.eq(chrono::Utc::now()),
                ))
                .execute(conn)?;
            // A failing shipper is an alert of its owner; running again recovers it.
            let failing = msg.starts_with("retrying");
            let was_failing = before.is_some_and(|m| m.starts_with("retrying"));
            if !failing && !was_failing {
                return Ok(());
            }
            let owner: Option<(String, i64)> = ds::table
                .find((&rt, &st))
                .select((ds::bk_app_code, ds::bk_biz_id))
                .first(conn)
                .optional()?;
            if let Some((app, biz)) = owner {
                crate::raise(
                    conn,
                    &app,
                    "bkdata shipper failing",
                    "shipper",
                    &format!("{rt} -> {st}"),
                    biz,
                    2,
                    failing,
                    &msg,
                );
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await
    }

    /// The binding, its cluster and the shipper's status (`None`: deleted).
    async fn load(&self, rt: &str, st: &str, k: u32) -> anyhow::Result<Option<Loaded>> {
        let (rt, st) = (rt.to_string(), st.to_string());
        db(&self.pool, move |conn| -> QueryResult<_> {
            let Some(d) = ds::table
                .find((&rt, &st))
                .select(DataStorage::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let c = bkdata_models::schema::storage_clusters::table
                .find(&d.cluster_name)
                .select(StorageCluster::as_select())
                .first(conn)?;
            let status: ShipperStatus = sh::table
                .find((&rt, &st))
                .select(sh::status)
                .first(conn)
                .optional()?
                .unwrap_or(ShipperStatus::Stopped);
            let counted = counted_to(conn, &rt, &st, k)?.unwrap_or(0);
            Ok(Some((d, c, status, counted.max(0) as u64)))
        })
        .await
    }

    async fn run_shipper(self, job: ShipRun, ctx: JobContext) -> JobResult {
        let ShipRun {
            result_table_id: rt,
            storage_type: st,
            partition: k,
        } = job;
        // A changed binding (fields, cluster, table) is picked up by starting over.
        while self.ship(&ctx, &rt, &st, k).await? {
            log::info!("data storage {rt} {st} changed; the shipper reloads it");
        }
        Ok(())
    }

    /// Ship until stopped (`false`) or the binding changes (`true`).
    async fn ship(&self, ctx: &JobContext, rt: &str, st: &str, k: u32) -> anyhow::Result<bool> {
        let (rt, st) = (rt.to_string(), st.to_string());
        let Some((binding, cluster, status, mut counted)) = self.load(&rt, &st, k).await? else {
            return Ok(false);
        };
        if status != ShipperStatus::Running {
            return Ok(false);
        }
        let version = binding.updated_at;
        let name = partition_shipper(&shipper_name(&rt, &st), k);
        let spec = physical::spec_of(&binding);
        let parser = RowParser::new(&spec);
        let opened = async {
            let mut sink = if binding.storage_type == "alert" {
                ShipSink::Alert(crate::alert_sink::AlertSink::new(
                    self.pool.clone(),
                    &binding,
                    &spec,
                    k,
                ))
            } else {
                ShipSink::Storage(physical::sink_for(&binding, &cluster, &spec, k).await?)
            };
            sink.ensure().await?;
            let committed = sink.committed().await?;
            Ok::<_, bkdata_storage::StorageError>((sink, committed))
        }
        .await;
        let (mut sink, mut committed) = match opened {
            Ok(x) => x,
            Err(e) => {
                let m = format!("retrying: {e}");
                self.message(&rt, &st, m.clone()).await?;
                return Err(anyhow::anyhow!(m));
            }
        };
        counted = counted.min(committed);
        let topic = partition_topic(&crate::clean_job::output_topic(&rt), k);
        let mut consumer = self
            .bus
            .consumer(
                &topic,
                &name,
                ConsumerOpts {
                    ack_wait: ACK_WAIT,
                    from_start: true,
                    // The storage's position is the truth: read on from it, in order. (A
                    // durable consumer alone would hand a new owner fresh messages before the
                    // dead owner's unacked ones come back, and skipping by position would then
                    // drop those.)
                    //
                    // Messages the storage holds but the counters miss (the worker died between
                    // the two) are read again to be counted, not written.
                    start_seq: Some(counted + 1),
                    take_over: false,
                },
            )
            .await?;
        // Partition 0 speaks for the shipper (the others would only overwrite it); a
        // failing partition says so whichever it is.
        if k == 0 {
            self.message(&rt, &st, format!("running on worker {}", ctx.worker_id))
                .await?;
        }
        let mut next_check = Instant::now();
        loop {
            if *ctx.lease_lost.borrow() {
                anyhow::bail!("lease lost or worker stopping; another worker resumes the shipper");
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(500);
                let (r, s) = (rt.clone(), st.clone());
                let now = db(&self.pool, move |conn| {
                    sh::table
                        .inner_join(
                            ds::table.on(ds::result_table_id
                                .eq(sh::result_table_id)
                                .and(ds::storage_type.eq(sh::storage_type))),
                        )
                        .filter(sh::result_table_id.eq(&r).and(sh::storage_type.eq(&s)))
                        .select((sh::status, ds::updated_at))
                        .first::<(ShipperStatus, chrono::DateTime<chrono::Utc>)>(conn)
                        .optional()
                })
                .await?;
                match now {
                    Some((status, _)) if status != ShipperStatus::Running => return Ok(false),
                    None => return Ok(false),
                    Some((_, v)) if v != version => return Ok(true),
                    _ => {}
                }
            }
            let deliveries = consumer.fetch(FETCH, Duration::from_millis(300)).await?;
            if deliveries.is_empty() {
                continue;
            }
            let mut rows = Vec::new();
            let mut last = committed;
            let mut dead = Vec::new();
            let mut recovered = 0u64;
            for d in &deliveries {
                if d.seq <= committed {
                    // In the storage already; counted too, unless the worker died in between.
                    if d.seq > counted {
                        recovered += d.records.len() as u64;
                        counted = d.seq;
                    }
                    continue;
                }
                if d.seq <= last {
                    // A second copy in this batch (a redelivery after a slow write).
                    continue;
                }
                last = d.seq;
                for (i, rec) in d.records.iter().enumerate() {
                    match parser.parse(rec) {
                        Ok(values) => rows.push(Row {
                            part: k,
                            seq: d.seq,
                            idx: i as u32,
                            values,
                        }),
                        Err(error) => dead.push(bkdata_storage::DeadLetter {
                            seq: d.seq,
                            idx: i as u32,
                            error,
                            document: String::from_utf8_lossy(rec).into_owned(),
                        }),
                    }
                }
            }
            if last > committed || recovered > 0 {
                let wrote = last > committed;
                let report = if wrote {
                    match sink.write(&rows, committed, last).await {
                        Ok(r) => r,
                        Err(e) => {
                            let m = format!("retrying: {e}");
                            self.message(&rt, &st, m.clone()).await?;
                            return Err(anyhow::anyhow!(m));
                        }
                    }
                } else {
                    bkdata_storage::WriteReport::default()
                };
                committed = committed.max(last);
                counted = committed;
                dead.extend(report.dead);
                let (r, s, n) = (rt.clone(), st.clone(), (report.written + recovered) as i64);
                db(&self.pool, move |conn| {
                    conn.transaction(|conn| -> QueryResult<()> {
                        diesel::update(sh::table.find((&r, &s)))
                            .set((
                                sh::rows_written.eq(sh::rows_written + n),
                                sh::batches.eq(sh::batches + i64::from(wrote)),
                                sh::dead_letters.eq(sh::dead_letters + dead.len() as i64),
                                sh::last_write_at.eq(chrono::Utc::now()),
                                sh::updated_at.eq(chrono::Utc::now()),
                            ))
                            .execute(conn)?;
                        count_to(conn, &r, &s, k, committed as i64)?;
                        if !dead.is_empty() {
                            let rows: Vec<_> = dead
                                .iter()
                                .map(|x| {
                                    (
                                        dl::result_table_id.eq(&r),
                                        dl::storage_type.eq(&s),
                                        dl::seq.eq(x.seq as i64),
                                        dl::item_index.eq(x.idx as i32),
                                        dl::error.eq(&x.error),
                                        dl::document.eq(&x.document),
                                    )
                                })
                                .collect();
                            diesel::insert_into(dl::table).values(&rows).execute(conn)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            }
            consumer.ack_all(deliveries).await?;
        }
    }
}

/// Where a shipper's counters reach in partition `k` (`None`: no shipper row): partition 0's
/// in `shippers.last_seq`, the others' in `shipper_partitions`.
pub fn counted_to(conn: &mut PgConnection, rt: &str, st: &str, k: u32) -> QueryResult<Option<i64>> {
    if k == 0 {
        return sh::table
            .find((rt, st))
            .select(sh::last_seq)
            .first(conn)
            .optional();
    }
    sp::table
        .find((rt, st, k as i32))
        .select(sp::last_seq)
        .first(conn)
        .optional()
}

fn count_to(conn: &mut PgConnection, rt: &str, st: &str, k: u32, seq: i64) -> QueryResult<()> {
    if k == 0 {
        diesel::update(sh::table.find((rt, st)))
            .set(sh::last_seq.eq(seq))
            .execute(conn)?;
    } else {
        diesel::insert_into(sp::table)
            .values((
                sp::result_table_id.eq(rt),
                sp::storage_type.eq(st),
                sp::partition.eq(k as i32),
                sp::last_seq.eq(seq),
            ))
            .on_conflict((sp::result_table_id, sp::storage_type, sp::partition))
            .do_update()
            .set(sp::last_seq.eq(seq))
            .execute(conn)?;
    }
    Ok(())
}

/// The shipper of partition `k`: its consumer name on the partition's stream and its key in
/// the storage's offsets table (partition 0 keeps the binding's own name).
pub fn partition_shipper(name: &str, k: u32) -> String {
    if k == 0 {
        name.to_string()
    } else {
        format!("{name}_p{k}")
    }
}

/// The shipper job's payload: which binding it ships.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShipRun {
    pub result_table_id: String,
    pub storage_type: String,
    /// The partition of the table's stream it ships.
    #[serde(default, skip_serializing_if = "crate::partitions::is_zero")]
    pub partition: u32,
}

impl Job for ShipJob {
    const NAME: &'static str = "ship_run";
    /// A shipper runs until stopped, and comes back after any fault.
    const MAX_ATTEMPTS: i32 = 1_000_000;
    /// Spread evenly over the workers.
    const SPREAD: bool = true;
    type Payload = ShipRun;

    fn run(&self, job: ShipRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_shipper(job, ctx))
    }
}

/// Where a shipper writes: a storage driver, or the alert path.
enum ShipSink {
    Storage(bkdata_storage::Sink),
    Alert(crate::alert_sink::AlertSink),
}

impl ShipSink {
    async fn ensure(&mut self) -> Result<(), bkdata_storage::StorageError> {
        match self {
            ShipSink::Storage(s) => s.ensure().await,
            ShipSink::Alert(_) => Ok(()),
        }
    }

    /// The position written up to. The alert path's is the shipper's own count (its events are
    /// in the platform's database, stored once whatever is replayed: ids from positions).
    async fn committed(&mut self) -> Result<u64, bkdata_storage::StorageError> {
        match self {
            ShipSink::Storage(s) => s.committed().await,
            ShipSink::Alert(a) => a.committed().await,
        }
    }

    async fn write(
        &mut self,
        rows: &[Row],
        from_seq: u64,
        last_seq: u64,
    ) -> Result<bkdata_storage::WriteReport, bkdata_storage::StorageError> {
        match self {
            ShipSink::Storage(s) => s.write(rows, from_seq, last_seq).await,
            ShipSink::Alert(a) => a.write(rows).await,
        }
    }
}

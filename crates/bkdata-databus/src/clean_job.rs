//! A running clean: the `clean_run` job of each partition, long-running and leased like every
//! job, so one worker runs it and it moves when that worker dies. It reads its partition of
//! the raw data's topic with the durable consumer `clean_{id}`, cleans each batch, publishes
//! the rows (one JSON object a line) to the same partition of `rt.{result_table_id}` with the
//! raw message's topic and position as the message id (a redelivery
//! after a crash is dropped by the bus, not duplicated), records counters and error samples,
//! and only then acks. Bad records never stop it. It ends when the clean is stopped.
use crate::etl::{CleanPlan, Failure, J};
use crate::rawdata;
use anyhow::Context;
use bkdata_bus::{partition_topic, AnyBus, Batch, Bus, Consumer, ConsumerOpts};
use bkdata_models::databus::Clean;
use bkdata_models::db::call;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult};
use bkdata_models::schema::{clean_errors as ce, cleans as c};
use bkdata_models::states::{CleanStatus, Lifecycle};
use bkdata_models::PgPool;
use diesel::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A batch is cleaned in milliseconds; after a worker dies its unacked batches come back this
/// soon (their republished rows are dropped as duplicates).
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// Error samples kept per clean.
pub const ERROR_SAMPLES: i64 = 1000;

pub fn output_topic(result_table_id: &str) -> String {
    format!("rt.{result_table_id}")
}

pub fn consumer_name(processing_id: &str) -> String {
    format!(
        "clean_{}",
        processing_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
    )
}

#[derive(Clone)]
pub struct CleanJob {
    pool: PgPool,
    bus: AnyBus,
}

impl CleanJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        CleanJob { pool, bus }
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> QueryResult<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        call(&self.pool, f).await
    }

    /// Move the clean to `status` where its lifecycle allows (a clean a user stopped meanwhile
    /// stays stopped).
    async fn status(&self, pid: &str, status: CleanStatus, message: String) -> anyhow::Result<()> {
        let pid = pid.to_string();
        self.db(move |conn| {
            diesel::update(
                c::table
                    .find(&pid)
                    .filter(c::status.eq_any(CleanStatus::sources(status))),
            )
            .set((c::status.eq(status), c::status_message.eq(message)))
            .execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn run_clean(self, job: CleanRun, ctx: JobContext) -> JobResult {
        let pid = job.processing_id;
        let p = pid.clone();
        let Some((clean, rt_fields)) = self
            .db(move |conn| {
                c::table
                    .inner_join(bkdata_models::schema::result_tables::table)
                    .filter(c::processing_id.eq(&p))
                    .select((
                        Clean::as_select(),
                        bkdata_models::schema::result_tables::fields,
                    ))
                    .first::<(Clean, Value)>(conn)
                    .optional()
            })
            .await?
        else {
            return Ok(()); // deleted
        };
        if clean.status != CleanStatus::Started {
            return Ok(());
        }
        let plan = match CleanPlan::compile_value(clean.json_config.clone()) {
            Ok(p) => p,
            Err(e) => {
                let m = format!("json_config does not compile: {e}");
                let (app, biz, target, msg) = (
                    clean.bk_app_code.clone(),
                    clean.bk_biz_id,
                    pid.clone(),
                    m.clone(),
                );
                let _ = self
                    .db(move |conn| {
                        crate::raise(
                            conn,
                            &app,
                            "bkdata clean failed",
                            "clean",
                            &target,
                            biz,
                            1,
                            true,
                            &msg,
                        );
                        Ok::<_, diesel::result::Error>(())
                    })
                    .await;
                return self.status(&pid, CleanStatus::Failed, m).await;
            }
        };
        let shape = Arc::new(RowShape::new(plan, &rt_fields));
        // Partition k of the raw data is cleaned into partition k of the table.
        let k = job.partition;
        let p = pid.clone();
        let counted: Value = self
            .db(move |conn| c::table.find(&p).select(c::counted_to).first(conn))
            .await?;
        let mut counted_to = counted[k.to_string()].as_u64().unwrap_or(0);
        let raw_topic = partition_topic(&rawdata::topic(clean.raw_data_id), k);
        let out_topic = partition_topic(&output_topic(&pid), k);
        let mut consumer = self
            .bus
            .consumer(
                &raw_topic,
                &consumer_name(&pid),
                ConsumerOpts {
                    ack_wait: ACK_WAIT,
                    from_start: true,
                    start_seq: None,
                    // A dead owner's unacked messages first, in order: a windowed flow
                    // reading the output would take rows that came after them as late.
                    // Those it had published come again and are dropped as duplicates.
                    take_over: true,
                },
            )
            .await?;
        // Partition 0 speaks for the clean (every clean has it; the others would only
        // overwrite each other).
        if k == 0 {
            self.status(
                &pid,
                CleanStatus::Started,
                format!("running on worker {}", ctx.worker_id),
            )
            .await?;
        }
        let mut next_check = Instant::now();
        let mut ready: Option<(Vec<bkdata_bus::Delivery>, Vec<Cleaned>)> = None;
        loop {
            if *ctx.lease_lost.borrow() {
                return Err(anyhow::anyhow!(
                    "lease lost or worker stopping; another worker resumes the clean"
                ));
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(500);
                let p = pid.clone();
                let status: Option<CleanStatus> = self
                    .db(move |conn| c::table.find(&p).select(c::status).first(conn).optional())
                    .await?;
                if status != Some(CleanStatus::Started) {
                    // Finish what is cleaned already, so a restart does not redo it.
                    if let Some((deliveries, cleaned)) = ready.take() {
                        self.commit(&pid, k, &mut counted_to, &raw_topic, &out_topic, cleaned)
                            .await?;
                        consumer.ack_all(deliveries).await?;
                    }
                    return Ok(());
                }
            }
            // A fetch is cleaned (on the blocking pool, its messages split across cores) while
            // the one before it is committed: its rows published (sent in order, acks awaited
            // together) and its counters and samples recorded in one transaction. Only then is
            // it acked: a crash before the ack replays messages whose republished rows the bus
            // drops as duplicates.
            let next = async {
                let mut deliveries = consumer.fetch(16, Duration::from_millis(300)).await?;
                if deliveries.is_empty() {
                    return Ok::<_, anyhow::Error>(None);
                }
                let inputs: Vec<(u64, Vec<Vec<u8>>)> = deliveries
                    .iter_mut()
                    .map(|d| (d.seq, std::mem::take(&mut d.records)))
                    .collect();
                let shape = shape.clone();
                let cleaned = tokio::task::spawn_blocking(move || clean_messages(&shape, inputs))
                    .await
                    .context("cleaning a batch")?;
                Ok(Some((deliveries, cleaned)))
            };
            let done = async {
                match ready.take() {
                    Some((deliveries, cleaned)) => {
                        self.commit(&pid, k, &mut counted_to, &raw_topic, &out_topic, cleaned)
                            .await?;
                        Ok::<_, anyhow::Error>(Some(deliveries))
                    }
                    None => Ok(None),
                }
            };
            let (done, next) = tokio::join!(done, next);
            if let Some(deliveries) = done? {
                consumer.ack_all(deliveries).await?;
            }
            ready = next?;
        }
    }

    /// Publish a fetch's rows and count it. Messages up to `counted_to` were counted before
    /// a crash (their rows are dropped as duplicates): only the newer ones are counted, and
    /// the position moves on with the counters, in one transaction.
    async fn commit(
        &self,
        pid: &str,
        k: u32,
        counted_to: &mut u64,
        raw_topic: &str,
        out_topic: &str,
        cleaned: Vec<Cleaned>,
    ) -> anyhow::Result<()> {
        let last = cleaned.iter().map(|m| m.seq).max().unwrap_or(0);
        let mut batches = Vec::new();
        let (mut n_in, mut n_out, mut n_errors) = (0i64, 0i64, 0i64);
        let mut errors = Vec::new();
        for mut m in cleaned {
            if !m.rows.is_empty() {
                let rows = std::mem::take(&mut m.rows);
                batches.push((format!("{raw_topic}:{}", m.seq), rows));
            }
            if m.seq > *counted_to {
                n_in += m.records;
                n_out += m.rows_out;
                n_errors += m.errors;
                errors.extend(m.samples);
            }
        }
        self.bus
            .publish_dedup_batches(out_topic, batches)
            .await
            .with_context(|| format!("publishing rows of {raw_topic}"))?;
        let to = (*counted_to).max(last);
        let key = k.to_string();
        let p = pid.to_string();
        self.db(move |conn| {
            conn.transaction(|conn| {
                // Only this partition's key: the other partitions' owners write theirs.
                let counted = diesel::dsl::sql::<diesel::sql_types::Jsonb>("jsonb_set(counted_to, ARRAY[")
                    .bind::<diesel::sql_types::Text, _>(&key)
                    .sql("], to_jsonb(")
                    .bind::<diesel::sql_types::BigInt, _>(to as i64)
                    .sql("))");
                diesel::update(c::table.find(&p))
                    .set((
                        c::records_in.eq(c::records_in + n_in),
                        c::rows_out.eq(c::rows_out + n_out),
                        c::errors_total.eq(c::errors_total + n_errors),
                        c::counted_to.eq(counted),
                    ))
                    .execute(conn)?;
                if !errors.is_empty() {
                    let samples: Vec<_> = errors
                        .iter()
                        .map(|(seq, label, e, raw)| {
                            (
                                ce::processing_id.eq(&p),
                                ce::raw_seq.eq(*seq),
                                ce::node_label.eq(label),
                                ce::error_name.eq(e.kind.name()),
                                ce::error_message.eq(e.to_string()),
                                ce::raw_record.eq(raw),
                            )
                        })
                        .collect();
                    diesel::insert_into(ce::table).values(&samples).execute(conn)?;
                    // Keep the latest samples only.
                    diesel::sql_query(
                        "DELETE FROM clean_errors WHERE processing_id = $1 AND id <= \
                         (SELECT id FROM clean_errors WHERE processing_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)",
                    )
                    .bind::<diesel::sql_types::Text, _>(&p)
                    .bind::<diesel::sql_types::BigInt, _>(ERROR_SAMPLES)
                    .execute(conn)?;
                }
                Ok(())
            })
        })
        .await?;
        *counted_to = to;
        Ok(())
    }
}

/// The clean job's payload: which clean to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CleanRun {
    pub processing_id: String,
    /// The partition of the raw data it reads (and of the table it writes).
    #[serde(default, skip_serializing_if = "crate::partitions::is_zero")]
    pub partition: u32,
}

impl Job for CleanJob {
    const NAME: &'static str = "clean_run";
    /// A clean runs until stopped, and comes back after any fault.
    const MAX_ATTEMPTS: i32 = 1000;
    /// Spread evenly over the workers.
    const SPREAD: bool = true;
    type Payload = CleanRun;

    fn run(&self, job: CleanRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_clean(job, ctx))
    }
}

/// A clean plan with the result table's row shape: its declared fields, then the time
/// columns, each with its `"name":` prefix JSON-escaped once. What the config assigns beyond
/// them stays out.
struct RowShape {
    plan: CleanPlan,
    columns: Vec<usize>,
    keys: Vec<String>,
}

impl RowShape {
    fn new(plan: CleanPlan, rt_fields: &Value) -> Self {
        let columns = projection(plan.schema(), rt_fields);
        let keys = columns
            .iter()
            .map(|&i| format!("{}:", Value::String(plan.schema()[i].name.clone())))
            .collect();
        RowShape {
            plan,
            columns,
            keys,
        }
    }
}

/// One raw message cleaned: its rows as a bus batch, counters and error samples
/// `(raw seq, node label, error, raw record)`.
struct Cleaned {
    seq: u64,
    rows: Batch,
    rows_out: i64,
    records: i64,
    errors: i64,
    samples: Vec<(i64, String, crate::etl::EtlError, String)>,
}

/// Error samples kept per message.
const SAMPLES_PER_MESSAGE: usize = 20;

fn clean_message(shape: &RowShape, seq: u64, records: &[Vec<u8>]) -> Cleaned {
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = Cleaned {
        seq,
        rows: Batch::with_capacity(records.iter().map(|r| r.len()).sum()),
        rows_out: 0,
        records: records.len() as i64,
        errors: 0,
        samples: Vec::new(),
    };
    let mut scratch = crate::etl::Scratch::default();
    for rec in records {
        let failure = shape.plan.clean_into(rec, now, &mut scratch);
        for r in scratch.rows() {
            // JSON text escapes newlines, so a row is always one line.
            let _ = out
                .rows
                .push_with(|buf| encode_row(buf, &shape.keys, &shape.columns, r));
            out.rows_out += 1;
        }
        // A record with a failure counts as bad even when it kept some rows (as in BKData).
        if let Some(Failure { label, error }) = failure {
            out.errors += 1;
            if out.samples.len() < SAMPLES_PER_MESSAGE {
                let raw = String::from_utf8_lossy(rec)
                    .chars()
                    .take(2000)
                    .collect::<String>();
                out.samples.push((seq as i64, label, error, raw));
            }
        }
    }
    out
}

/// Clean a fetch's messages, split across the machine's cores (the clean is the costly
/// stage of the databus).
fn clean_messages(shape: &RowShape, inputs: Vec<(u64, Vec<Vec<u8>>)>) -> Vec<Cleaned> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(inputs.len());
    if threads <= 1 {
        return inputs
            .iter()
            .map(|(seq, recs)| clean_message(shape, *seq, recs))
            .collect();
    }
    let per = inputs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = inputs.chunks(per);
        let mine = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(seq, recs)| clean_message(shape, *seq, recs))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out: Vec<Cleaned> = mine
            .iter()
            .map(|(seq, recs)| clean_message(shape, *seq, recs))
            .collect();
        for h in others {
            // A panic in the engine is a bug; surface it here rather than lose the batch.
            match h.join() {
                Ok(v) => out.extend(v),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// Indices into the plan's schema of the result table's fields, then of the time columns
/// (and `timestamp`, which every BKData result table has).
fn projection(schema: &[crate::etl::Field], rt_fields: &Value) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let declared = rt_fields
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field_name"].as_str());
    let time = ["dtEventTime", "dtEventTimeStamp", "localTime", "timestamp"].into_iter();
    for name in declared.chain(time) {
        if let Some(i) = schema.iter().rposition(|f| f.name == name) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// A row as the JSON object the result table's stream carries, written straight from the
/// schema order (no intermediate map).
fn encode_row(out: &mut Vec<u8>, keys: &[String], columns: &[usize], values: &[J]) {
    out.push(b'{');
    for (n, (k, &i)) in keys.iter().zip(columns).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        values[i].write_json(out, true);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_encode_as_json_objects() {
        use serde_json::json;
        let keys: Vec<String> = ["a", "b\"q"]
            .iter()
            .map(|n| format!("{}:", json!(n)))
            .collect();
        let mut row = Vec::new();
        super::encode_row(
            &mut row,
            &keys,
            &[1, 0],
            &[super::J::Str("x\ny".into()), super::J::Int(1)],
        );
        let v: serde_json::Value = serde_json::from_slice(&row).unwrap();
        assert_eq!(v, json!({"a": 1, "b\"q": "x\ny"}));
    }
}

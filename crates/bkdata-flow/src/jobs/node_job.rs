//! The `flow_run` job: one realtime node's window runtime, reading its input topic, writing
//! its output topic, checkpointing after each publish.
use super::checkpoint::{split_parts, Checkpoint, OutId};
use super::exchange_job::exchange_topic;
use crate::exchange::{parse_header, Clock};
use crate::graph;
use crate::rows::{schema_of, write_rows};
use crate::{FlowSql, Pushed, WindowConf, WindowRuntime, WindowType};
use anyhow::Context;
use bkdata_bus::{partition_topic, AnyBus, Batch, Bus, Consumer, ConsumerOpts, Delivery};
use bkdata_databus::clean_job::output_topic;
use bkdata_databus::etl::time::format_ms;
use bkdata_models::databus::FlowNode;
use bkdata_models::db::call as db;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult};
use bkdata_models::schema::{flow_nodes as fnd, result_tables as rt};
use bkdata_models::states::NodeStatus;
use bkdata_models::PgPool;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The idle timeout by default: after this long without input, the watermark moves on with
/// the clock so the last windows close when the data stops.
pub const IDLE_AFTER: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct RunJob {
    pool: PgPool,
    bus: AnyBus,
    idle_after: Duration,
}

/// Counters to add with the next checkpoint.
#[derive(Default)]
struct Counts {
    rows_in: i64,
    rows_out: i64,
    late: i64,
    bad: i64,
    windows: i64,
}

impl RunJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        RunJob {
            pool,
            bus,
            idle_after: IDLE_AFTER,
        }
    }

    /// After `d` without input, the watermark moves on with the clock ([`IDLE_AFTER`]).
    pub fn idle_after(mut self, d: Duration) -> Self {
        self.idle_after = d;
        self
    }

    async fn message(&self, node_id: i64, message: String) -> anyhow::Result<()> {
        db(&self.pool, move |c| {
            diesel::update(fnd::table.find(node_id))
                .set(fnd::status_message.eq(message))
                .execute(c)
        })
        .await
        .map(|_| ())
    }

    /// Write the checkpoint and add the counters: the node's own, or (`task`) one task's
    /// part of a parallel node's checkpoint.
    async fn save(
        &self,
        node_id: i64,
        task: Option<u32>,
        cp: &Checkpoint,
        n: &mut Counts,
    ) -> anyhow::Result<()> {
        let cpv = serde_json::to_value(cp)?;
        let c = std::mem::take(n);
        if let Some(k) = task {
            let epoch = cp.epoch.to_string();
            return db(&self.pool, move |conn| {
                diesel::sql_query(
                    "UPDATE flow_nodes SET checkpoint = jsonb_set(checkpoint, ARRAY['parallel','tasks',$1], $2::jsonb), \
                     rows_in = rows_in + $3, rows_out = rows_out + $4, late_rows = late_rows + $5, \
                     bad_rows = bad_rows + $6, windows = windows + $7 \
                     WHERE node_id = $8 AND checkpoint->>'epoch' = $9",
                )
                .bind::<Text, _>(k.to_string())
                .bind::<Text, _>(cpv.to_string())
                .bind::<BigInt, _>(c.rows_in)
                .bind::<BigInt, _>(c.rows_out)
                .bind::<BigInt, _>(c.late)
                .bind::<BigInt, _>(c.bad)
                .bind::<BigInt, _>(c.windows)
                .bind::<BigInt, _>(node_id)
                .bind::<Text, _>(epoch)
                .execute(conn)
            })
            .await
            .map(|_| ());
        }
        db(&self.pool, move |conn| {
            diesel::update(fnd::table.find(node_id))
                .set((
                    fnd::checkpoint.eq(Some(cpv)),
                    fnd::rows_in.eq(fnd::rows_in + c.rows_in),
                    fnd::rows_out.eq(fnd::rows_out + c.rows_out),
                    fnd::late_rows.eq(fnd::late_rows + c.late),
                    fnd::bad_rows.eq(fnd::bad_rows + c.bad),
                    fnd::windows.eq(fnd::windows + c.windows),
                ))
                .execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn run_node(self, job: NodeRun, ctx: JobContext) -> JobResult {
        let node_id = job.node_id;
        let Some((node, input, fields)) = load_node(&self.pool, node_id).await? else {
            return Ok(());
        };
        if node.status != NodeStatus::Running {
            return Ok(());
        }
        let fail = |m: String| {
            let this = self.clone();
            async move {
                let _ = this.message(node_id, format!("failed: {m}")).await;
                Err::<(), _>(anyhow::anyhow!(m))
            }
        };
        let top: Checkpoint = match node.checkpoint.clone().map(serde_json::from_value) {
            Some(Ok(cp)) => cp,
            _ => return fail("the node has no checkpoint: start the flow again".into()).await,
        };
        // One node, or task k of a parallel one: its input is the exchange's partition k, its
        // output the table's partition k (so it alone writes there, as a node does its table).
        let k = job.task;
        let out_table = output_topic(&node.result_table_id);
        let (mut cp, in_topic, out_topic, task, sources) = match &top.parallel {
            None if k == 0 => (top.clone(), output_topic(&input), out_table, None, None),
            // A task of an earlier parallel deploy.
            None => return Ok(()),
            Some(par) => match par.tasks.get(k as usize) {
                Some(t) => (
                    t.clone(),
                    partition_topic(&exchange_topic(node_id), k),
                    partition_topic(&out_table, k),
                    Some(k),
                    Some(par.sources.len()),
                ),
                None => return Ok(()),
            },
        };
        let (conf, sql) = match compile(&node, &input, &fields).await {
            Ok(c) => c,
            Err(e) => return fail(e).await,
        };
        let mut runtime = match WindowRuntime::new(conf, sql, &input) {
            Ok(r) => r,
            Err(e) => return fail(e.to_string()).await,
        };

        // What the output says happened after the checkpoint (a crash between publishing and
        // checkpointing): those windows are not emitted again, that input is not recounted.
        let counted_to = cp.consumed;
        let counted_emitted_to = cp.emitted_to;
        let mut seen_to = cp.consumed;
        let mut skip_parts: Option<(i64, usize)> = None;
        let last = self.bus.last(&out_topic).await?;
        if let Some(id) = last
            .filter(|m| m.seq > cp.out_base)
            .and_then(|m| m.msg_id)
            .and_then(|id| OutId::parse(&id))
            .filter(|id| id.node == node_id && id.epoch == cp.epoch)
        {
            seen_to = seen_to.max(id.seq);
            match id.end {
                Some(end) if id.part + 1 == id.parts => cp.emitted_to = cp.emitted_to.max(end),
                Some(end) => {
                    // Part of a window went out: the windows before it went out whole.
                    cp.emitted_to = cp.emitted_to.max(end - conf.freq_ms);
                    skip_parts = Some((end, id.part + 1));
                }
                None if id.part + 1 == id.parts => {
                    cp.consumed = cp.consumed.max(id.seq);
                    cp.replay_from = cp.replay_from.max(id.seq + 1);
                }
                None => skip_parts = Some((id.seq as i64, id.part + 1)),
            }
        }
        runtime.resume(cp.emitted_to, cp.max_event);
        let mut clock = sources.map(|n| Clock::new(n, cp.sources_max.clone(), Instant::now()));
        if clock.is_some() {
            runtime.set_clock(None);
        }
        let consumer_name = match task {
            None => format!("flow_{node_id}"),
            Some(k) => format!("flow_{node_id}_t{k}"),
        };
        let mut consumer = self
            .bus
            .consumer(
                &in_topic,
                &consumer_name,
                ConsumerOpts {
                    ack_wait: Duration::from_secs(60),
                    from_start: true,
                    start_seq: Some(cp.replay_from.max(1)),
                    take_over: false,
                },
            )
            .await?;
        // Task 0 speaks for a parallel node.
        if k == 0 {
            let tasks = match &top.parallel {
                Some(par) => format!(
                    " (task 0 of {}, over {} input partitions)",
                    par.tasks.len(),
                    par.sources.len()
                ),
                None => String::new(),
            };
            self.message(
                node_id,
                format!(
                    "running on worker {}: input {in_topic} from position {}{tasks}",
                    ctx.worker_id, cp.replay_from
                ),
            )
            .await?;
        }

        let idle_after = self.idle_after;
        let unwindowed = conf.kind == WindowType::None;
        let mut counts = Counts::default();
        let mut last_input = Instant::now();
        let mut next_check = Instant::now();
        let mut dirty = false;
        let mut last_save = Instant::now();
        loop {
            if *ctx.lease_lost.borrow() {
                anyhow::bail!("lease lost or worker stopping; another worker resumes the node");
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(500);
                let (status, n) = state_of(&self.pool, node_id).await?;
                if status != Some(NodeStatus::Running) {
                    if let Some(c) = &clock {
                        cp.sources_max = c.maxima();
                    }
                    self.save(node_id, task, &cp, &mut counts).await?;
                    return Ok(());
                }
                // The input gained partitions: the clock waits for them too.
                if let Some(c) = &mut clock {
                    c.grow(n, Instant::now());
                }
            }
            let deliveries: Vec<Delivery> = consumer.fetch(16, Duration::from_millis(200)).await?;
            let mut out: Vec<(OutId, Vec<Vec<u8>>)> = Vec::new();
            let local_time = format_ms(chrono::Utc::now().timestamp_millis(), bkdata_tz());
            if !deliveries.is_empty() {
                last_input = Instant::now();
            }
            for d in &deliveries {
                let counted = d.seq > counted_to;
                for rec in &d.records {
                    if let Some(c) = &mut clock {
                        if let Some((p, max)) = parse_header(rec) {
                            c.heard(p, max, Instant::now());
                            continue;
                        }
                    }
                    let pushed = runtime.push(rec, d.seq);
                    if !counted {
                        continue;
                    }
                    counts.rows_in += 1;
                    match pushed {
                        Pushed::Kept => {}
                        Pushed::Bad => counts.bad += 1,
                        // A row that went into a window published just before a crash is
                        // not late: the replay only finds its window emitted.
                        Pushed::Late { last_end } => {
                            if d.seq > seen_to || last_end <= counted_emitted_to {
                                counts.late += 1;
                            }
                        }
                    }
                }
                cp.consumed = cp.consumed.max(d.seq);
                if unwindowed {
                    for e in runtime.advance(0).await? {
                        let lines = lines_of(&e, &local_time);
                        out.extend(split_parts(node_id, cp.epoch, None, d.seq, lines));
                    }
                }
            }
            if !unwindowed {
                let idle_ms = match &clock {
                    // The slowest input partition that is not idle moves the watermark.
                    Some(c) => {
                        let (time, idle_ms) = c.time(Instant::now(), idle_after);
                        runtime.set_clock(time);
                        idle_ms
                    }
                    None if deliveries.is_empty() => {
                        last_input.elapsed().saturating_sub(idle_after).as_millis() as i64
                    }
                    None => 0,
                };
                for e in runtime.advance(idle_ms).await? {
                    let lines = lines_of(&e, &local_time);
                    counts.windows += 1;
                    out.extend(split_parts(
                        node_id,
                        cp.epoch,
                        Some(e.end),
                        cp.consumed,
                        lines,
                    ));
                }
            }
            if let Some((key, from_part)) = skip_parts {
                out.retain(|(id, _)| !(id.key() == key && id.part < from_part));
                if out.iter().any(|(id, _)| id.key() > key) {
                    skip_parts = None;
                }
            }
            if !out.is_empty() {
                let mut batches = Vec::with_capacity(out.len());
                for (id, lines) in out {
                    let mut b = Batch::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                    for l in &lines {
                        // JSON text has no raw newline.
                        let _ = b.push_with(|buf| buf.extend_from_slice(l));
                    }
                    counts.rows_out += lines.len() as i64;
                    batches.push((id.format(), b));
                }
                let n = batches.len() as u64;
                self.bus
                    .publish_dedup_batches(&out_topic, batches)
                    .await
                    .with_context(|| format!("publishing to {out_topic}"))?;
                failpoint_after_publish(n);
            }
            let emitted = counts.windows > 0 || counts.rows_out > 0;
            dirty |= emitted || !deliveries.is_empty();
            cp.emitted_to = runtime.emitted_to();
            cp.max_event = runtime.max_event();
            cp.replay_from = runtime.replay_from().unwrap_or(cp.consumed + 1);
            // Output first, then the checkpoint: a crash in between is what the output's
            // message ids cover. Reading alone is checkpointed at most once a second.
            if let Some(c) = &clock {
                cp.sources_max = c.maxima();
            }
            if emitted || (dirty && last_save.elapsed() >= Duration::from_secs(1)) {
                self.save(node_id, task, &cp, &mut counts).await?;
                dirty = false;
                last_save = Instant::now();
            }
            if !deliveries.is_empty() {
                consumer.ack_all(deliveries).await?;
            }
        }
    }
}

/// A realtime node, its input table and the input's fields (`None`: the node is gone).
pub(super) async fn load_node(
    pool: &PgPool,
    node_id: i64,
) -> anyhow::Result<Option<(FlowNode, String, Value)>> {
    db(pool, move |c| -> anyhow::Result<_> {
        let n: Option<FlowNode> = fnd::table
            .find(node_id)
            .select(FlowNode::as_select())
            .first(c)
            .optional()?;
        let Some(n) = n else { return Ok(None) };
        let input: String = fnd::table
            .find(n.inputs.first().copied().unwrap_or_default())
            .select(fnd::result_table_id)
            .first(c)?;
        let fields: Value = rt::table
            .find(&input)
            .select(rt::fields)
            .first(c)
            .optional()?
            .ok_or_else(|| anyhow::anyhow!("input table {input} no longer exists"))?;
        Ok(Some((n, input, fields)))
    })
    .await
}

/// A node's window settings and its SQL checked against its input.
pub(super) async fn compile(
    node: &FlowNode,
    input: &str,
    fields: &Value,
) -> Result<(WindowConf, FlowSql), String> {
    let config = node.config.as_object().cloned().unwrap_or_default();
    let conf = graph::window_of(&config).map_err(|e| e.to_string())?;
    let sql_text = config
        .get("sql")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fields = crate::flows::fields_of(fields);
    let sql = FlowSql::compile(sql_text, vec![(input.to_string(), schema_of(&fields))])
        .await
        .map_err(|e| e.to_string())?;
    Ok((conf, sql))
}

/// A node's status, and how many input partitions its (parallel) checkpoint knows.
pub(super) async fn state_of(
    pool: &PgPool,
    node_id: i64,
) -> anyhow::Result<(Option<NodeStatus>, usize)> {
    // Polled twice a second by every task and exchange: the count, not the checkpoint.
    let sources = diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Integer>>(
        "jsonb_array_length(checkpoint->'parallel'->'sources')",
    );
    let row: Option<(NodeStatus, Option<i32>)> = db(pool, move |c| {
        fnd::table
            .find(node_id)
            .select((fnd::status, sources))
            .first(c)
            .optional()
    })
    .await?;
    Ok(match row {
        Some((s, n)) => (Some(s), n.unwrap_or(0).max(0) as usize),
        None => (None, 0),
    })
}

/// BKData's time columns are in UTC+8 (a clean's default `timezone`).
fn bkdata_tz() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Tests' fault injection: `BKDATA_FAILPOINT=flow_after_publish:N` aborts the process right
/// after the publish that takes its output past N messages, before the checkpoint (the
/// moment a crash is hardest on).
fn failpoint_after_publish(messages: u64) {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Ok(fp) = std::env::var("BKDATA_FAILPOINT") else {
        return;
    };
    if let Some(n) = fp
        .strip_prefix("flow_after_publish:")
        .and_then(|n| n.parse::<u64>().ok())
    {
        if COUNT.fetch_add(messages, std::sync::atomic::Ordering::SeqCst) + messages >= n {
            eprintln!("failpoint flow_after_publish:{n}: aborting");
            std::process::abort();
        }
    }
}

/// A window's result rows as stream rows, sorted so a recomputed window splits into the
/// same messages.
fn lines_of(e: &crate::Emitted, local_time: &str) -> Vec<Vec<u8>> {
    let tz = bkdata_tz();
    let mut lines = Vec::new();
    for b in &e.batches {
        write_rows(b, e.start, &|t| format_ms(t, tz), local_time, &mut lines);
    }
    lines.sort();
    lines
}

/// The node job's payload: which realtime node to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeRun {
    pub node_id: i64,
    /// A parallel node's task (0 for a node that runs as one).
    #[serde(default, skip_serializing_if = "bkdata_databus::partitions::is_zero")]
    pub task: u32,
}

impl Job for RunJob {
    const NAME: &'static str = "flow_run";
    /// A node runs until its flow stops, and comes back after any fault.
    const MAX_ATTEMPTS: i32 = 1_000_000;
    /// Spread evenly over the workers.
    const SPREAD: bool = true;
    type Payload = NodeRun;

    fn run(&self, job: NodeRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_node(job, ctx))
    }
}

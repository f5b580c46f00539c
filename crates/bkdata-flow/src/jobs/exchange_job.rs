//! The `flow_exchange` job: one input partition of a parallel realtime node, its rows sent
//! to the node's tasks by key (see [`crate::exchange`]).
//!
//! Its position is its own (`parallel.sources[p]` in the node's checkpoint), written after
//! each fetch is published: a crash in between exchanges those messages again under the same
//! ids (`x{p}:{seq}`), and the bus drops them as duplicates, as it does a clean's.
use super::checkpoint::Checkpoint;
use super::node_job::{compile, load_node, state_of, NodeRun, RunJob};
use crate::exchange::Splitter;
use anyhow::Context;
use bkdata_bus::{partition_topic, AnyBus, Batch, Bus, Consumer, ConsumerOpts};
use bkdata_databus::clean_job::output_topic;
use bkdata_models::db::call as db;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult};
use bkdata_models::schema::result_tables as rt;
use bkdata_models::states::NodeStatus;
use bkdata_models::PgPool;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::time::{Duration, Instant};

/// The topic a parallel node's exchanges write and its tasks read: partition k for task k.
pub fn exchange_topic(node_id: i64) -> String {
    format!("fx.{node_id}")
}

#[derive(Clone)]
pub struct ExchangeJob {
    pool: PgPool,
    bus: AnyBus,
}

/// The exchange job's payload: which node, which input partition.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExchangeRun {
    pub node_id: i64,
    #[serde(default, skip_serializing_if = "bkdata_databus::partitions::is_zero")]
    pub partition: u32,
}

impl ExchangeJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        ExchangeJob { pool, bus }
    }

    async fn commit(&self, node_id: i64, epoch: i64, p: u32, seq: u64) -> anyhow::Result<()> {
        db(&self.pool, move |c| {
            diesel::sql_query(
                "UPDATE flow_nodes SET checkpoint = jsonb_set(checkpoint, ARRAY['parallel','sources',$1], to_jsonb($2::bigint)) \
                 WHERE node_id = $3 AND checkpoint->>'epoch' = $4",
            )
            .bind::<Text, _>(p.to_string())
            .bind::<BigInt, _>(seq as i64)
            .bind::<BigInt, _>(node_id)
            .bind::<Text, _>(epoch.to_string())
            .execute(c)
        })
        .await
        .map(|_| ())
    }

    /// The input gained partitions (`set_partitions`): exchange them too, from their start
    /// (every record in a new partition came after the change). Partition 0 looks.
    async fn follow_growth(
        &self,
        node_id: i64,
        epoch: i64,
        input: &str,
        known: usize,
    ) -> anyhow::Result<()> {
        let input = input.to_string();
        let now: i32 = db(&self.pool, move |c| {
            rt::table.find(&input).select(rt::partitions).first(c)
        })
        .await?;
        let now = now.max(1) as usize;
        if now <= known {
            return Ok(());
        }
        db(&self.pool, move |c| {
            c.transaction(|c| {
                let zeros = serde_json::Value::Array(vec![0.into(); now - known]);
                diesel::sql_query(
                    "UPDATE flow_nodes SET checkpoint = jsonb_set(checkpoint, '{parallel,sources}', (checkpoint->'parallel'->'sources') || $1::jsonb) \
                     WHERE node_id = $2 AND checkpoint->>'epoch' = $3 AND jsonb_array_length(checkpoint->'parallel'->'sources') = $4",
                )
                .bind::<Text, _>(zeros.to_string())
                .bind::<BigInt, _>(node_id)
                .bind::<Text, _>(epoch.to_string())
                .bind::<BigInt, _>(known as i64)
                .execute(c)?;
                for p in known..now {
                    ExchangeJob::enqueue_unique(
                        c,
                        &ExchangeRun {
                            node_id,
                            partition: p as u32,
                        },
                    )?;
                }
                Ok::<_, diesel::result::Error>(())
            })
        })
        .await
    }

    async fn run_exchange(self, job: ExchangeRun, ctx: JobContext) -> JobResult {
        let (node_id, p) = (job.node_id, job.partition);
        let Some((node, input, fields)) = load_node(&self.pool, node_id).await? else {
            return Ok(());
        };
        if node.status != NodeStatus::Running {
            return Ok(());
        }
        let cp: Option<Checkpoint> = node
            .checkpoint
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let Some((epoch, par)) = cp.and_then(|c| Some((c.epoch, c.parallel?))) else {
            return Ok(());
        };
        let Some(&from) = par.sources.get(p as usize) else {
            return Ok(());
        };
        let (_, sql) = compile(&node, &input, &fields)
            .await
            .map_err(|m| anyhow::anyhow!("node {node_id}: {m}"))?;
        let schema = sql
            .input_schema(&input)
            .ok_or_else(|| anyhow::anyhow!("node {node_id}: {input} is not its input"))?;
        let tasks = par.tasks.len() as u32;
        let mut splitter = Splitter::new(&schema, sql.route().clone(), tasks);
        let in_topic = partition_topic(&output_topic(&input), p);
        let fx = exchange_topic(node_id);
        let mut consumer = self
            .bus
            .consumer(
                &in_topic,
                &format!("flowx_{node_id}_p{p}"),
                ConsumerOpts {
                    ack_wait: Duration::from_secs(60),
                    from_start: true,
                    start_seq: Some(from + 1),
                    take_over: false,
                },
            )
            .await?;
        let mut known = par.sources.len();
        let mut next_check = Instant::now();
        loop {
            if *ctx.lease_lost.borrow() {
                anyhow::bail!("lease lost or worker stopping; another worker resumes the exchange");
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(500);
                let (status, n) = state_of(&self.pool, node_id).await?;
                if status != Some(NodeStatus::Running) {
                    return Ok(());
                }
                known = known.max(n);
                if p == 0 {
                    self.follow_growth(node_id, epoch, &input, known).await?;
                }
            }
            let mut deliveries = consumer.fetch(16, Duration::from_millis(200)).await?;
            let Some(last) = deliveries.last().map(|d| d.seq) else {
                continue;
            };
            let mut per_task: Vec<Vec<(String, Batch)>> = (0..tasks).map(|_| Vec::new()).collect();
            for d in &mut deliveries {
                let rows = std::mem::take(&mut d.records);
                for (k, lines) in splitter.split(p, rows).into_iter().enumerate() {
                    let mut b = Batch::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                    for l in &lines {
                        let _ = b.push_with(|buf| buf.extend_from_slice(l));
                    }
                    per_task[k].push((format!("x{p}:{}", d.seq), b));
                }
            }
            for (k, batches) in per_task.into_iter().enumerate() {
                let topic = partition_topic(&fx, k as u32);
                self.bus
                    .publish_dedup_batches(&topic, batches)
                    .await
                    .with_context(|| format!("publishing to {topic}"))?;
            }
            self.commit(node_id, epoch, p, last).await?;
            consumer.ack_all(deliveries).await?;
        }
    }
}

impl Job for ExchangeJob {
    const NAME: &'static str = "flow_exchange";
    /// Runs until its flow stops, and comes back after any fault.
    const MAX_ATTEMPTS: i32 = 1_000_000;
    const SPREAD: bool = true;
    type Payload = ExchangeRun;

    fn run(&self, job: ExchangeRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_exchange(job, ctx))
    }
}

/// Enqueue a parallel node's jobs: a task per exchange partition, an exchange per input
/// partition.
pub(crate) fn enqueue_parallel(
    c: &mut PgConnection,
    node_id: i64,
    tasks: u32,
    sources: u32,
) -> QueryResult<()> {
    for task in 0..tasks {
        RunJob::enqueue_unique(c, &NodeRun { node_id, task })?;
    }
    for partition in 0..sources {
        ExchangeJob::enqueue_unique(c, &ExchangeRun { node_id, partition })?;
    }
    Ok(())
}

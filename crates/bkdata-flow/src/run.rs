//! Flows in workers: the `flow_deploy` job carries out a start, stop or restart, and one
//! `flow_run` job per realtime node runs its window runtime.
//!
//! A realtime node reads `rt.{input}` and writes `rt.{output}`; storage nodes are data storages
//! of the table they store, shipped by the databus' shippers (so a storage node gets the
//! shipper's exactly-once writes). A node's progress is its [`Checkpoint`], written after its
//! output is published: where to replay the input from to rebuild the open windows, which
//! windows were emitted. Each output message's id names the node, the epoch, the window and the
//! input position it covers; a node restarting after a crash reads its output's last message
//! and so never emits a window twice, even when it died between publishing and checkpointing.
use crate::deploy::{log_line, DEPLOY_JOB};
use crate::graph::{self, STORAGE_TYPES};
use crate::rows::{schema_of, write_rows};
use crate::{FlowSql, Pushed, WindowRuntime, WindowType};
use bkdata_api::databus::DataStorageRequest;
use bkdata_bus::{AnyBus, Batch, Bus, Consumer, ConsumerOpts, Delivery};
use bkdata_databus::etl::time::format_ms;
use bkdata_databus::runtime::{db, output_topic};
use bkdata_databus::{storages, tasks};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Flow, FlowDeploy, FlowNode};
use bkdata_models::jobs::{enqueue_unique, BoxFuture, JobContext, JobHandler, NewJob};
use bkdata_models::schema::{
    background_jobs as bj, flow_deploys as fd, flow_nodes as fnd, flows as f, result_tables as rt,
    shippers as sh, storage_clusters as sc,
};
use bkdata_models::PgPool;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const RUN_JOB: &str = "flow_run";
/// Rows per output message.
const ROWS_PER_MESSAGE: usize = 1000;
/// How long a deploy waits for realtime nodes to start or stop.
const DEPLOY_WAIT: Duration = Duration::from_secs(60);

/// A realtime node's progress, kept in `flow_nodes.checkpoint`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// The deploy that last set the input position (a start `from_tail` or `from_head`, or
    /// the first start). Output messages carry it: only this epoch's tell where the node is.
    pub epoch: i64,
    /// The output topic's last position when the epoch began.
    pub out_base: u64,
    /// Read the input from here to rebuild the open windows.
    pub replay_from: u64,
    /// Input up to here has been read and counted.
    pub consumed: u64,
    /// Windows ending at or before this have been emitted.
    pub emitted_to: i64,
    pub max_event: Option<i64>,
}

/// What an output message's id says: `f{node}.{epoch}.w{end}.s{seq}.{part}.{parts}` for a
/// window, `f{node}.{epoch}.n.s{seq}.{part}.{parts}` for unwindowed output of input `seq`.
#[derive(Debug, Clone, PartialEq)]
struct OutId {
    node: i64,
    epoch: i64,
    end: Option<i64>,
    seq: u64,
    part: usize,
    parts: usize,
}

impl OutId {
    fn format(&self) -> String {
        let w = self.end.map_or("n".to_string(), |e| format!("w{e}"));
        format!(
            "f{}.{}.{w}.s{}.{}.{}",
            self.node, self.epoch, self.seq, self.part, self.parts
        )
    }

    /// The window end, or the input position of unwindowed output.
    fn key(&self) -> i64 {
        self.end.unwrap_or(self.seq as i64)
    }

    fn parse(s: &str) -> Option<OutId> {
        let mut it = s.split('.');
        let node = it.next()?.strip_prefix('f')?.parse().ok()?;
        let epoch = it.next()?.parse().ok()?;
        let w = it.next()?;
        let end = match w {
            "n" => None,
            _ => Some(w.strip_prefix('w')?.parse().ok()?),
        };
        let seq = it.next()?.strip_prefix('s')?.parse().ok()?;
        let part = it.next()?.parse().ok()?;
        let parts = it.next()?.parse().ok()?;
        Some(OutId {
            node,
            epoch,
            end,
            seq,
            part,
            parts,
        })
    }
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The idle timeout: after this long without input, the watermark moves on with the clock
/// so the last windows close when the data stops (`BKDATA_FLOW_IDLE_MS`, default 30 s).
pub fn idle_timeout() -> Duration {
    std::env::var("BKDATA_FLOW_IDLE_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

// ---------------------------------------------------------------------------------------
// Deploys

#[derive(Clone)]
pub struct DeployJob {
    pool: PgPool,
    bus: AnyBus,
}

impl DeployJob {
    pub fn new(pool: PgPool, bus: AnyBus) -> Self {
        DeployJob { pool, bus }
    }

    /// Append a line to the deploy's log (and move its progress on).
    async fn log(&self, id: i64, level: &str, message: String, progress: Option<f32>) {
        let line = json!([log_line(level, &message)]);
        let res = db(&self.pool, move |c| {
            diesel::sql_query(
                "UPDATE flow_deploys SET logs = logs || $2, progress = COALESCE($3, progress) WHERE id = $1",
            )
            .bind::<diesel::sql_types::BigInt, _>(id)
            .bind::<diesel::sql_types::Jsonb, _>(line)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Float4>, _>(progress)
            .execute(c)
            .map_err(s)
        })
        .await;
        if let Err(e) = res {
            log::warn!("deploy {id}: cannot write its log: {e}");
        }
    }

    async fn run_deploy(self, ctx: JobContext) -> Result<(), String> {
        let id = ctx.job.data["deploy_id"]
            .as_i64()
            .ok_or("job data has no deploy_id")?;
        let loaded = db(&self.pool, move |c| -> Result<_, String> {
            let d: Option<FlowDeploy> = fd::table
                .find(id)
                .select(FlowDeploy::as_select())
                .first(c)
                .optional()
                .map_err(s)?;
            let Some(d) = d else { return Ok(None) };
            let flow: Flow = f::table
                .find(d.flow_id)
                .select(Flow::as_select())
                .first(c)
                .map_err(s)?;
            let nodes: Vec<FlowNode> = fnd::table
                .filter(fnd::flow_id.eq(d.flow_id))
                .order(fnd::node_id)
                .select(FlowNode::as_select())
                .load(c)
                .map_err(s)?;
            diesel::update(fd::table.find(id))
                .filter(fd::status.eq_any(["pending", "running"]))
                .set((
                    fd::status.eq("running"),
                    fd::start_time.eq(Some(chrono::Utc::now())),
                ))
                .execute(c)
                .map_err(s)?;
            Ok(Some((d, flow, nodes)))
        })
        .await?;
        let Some((deploy, flow, nodes)) = loaded else {
            return Ok(());
        };
        if matches!(deploy.status.as_str(), "success" | "failure") {
            return Ok(());
        }
        self.log(
            id,
            "INFO",
            format!(
                "{} of flow {} on worker {}",
                deploy.action, flow.flow_id, ctx.worker_id
            ),
            Some(5.0),
        )
        .await;
        let result = match deploy.action.as_str() {
            "stop" => self.stop_flow(&deploy, &nodes).await,
            "restart" => match self.stop_flow(&deploy, &nodes).await {
                Ok(()) => self.start_flow(&deploy, &flow, &nodes).await,
                Err(e) => Err(e),
            },
            _ => self.start_flow(&deploy, &flow, &nodes).await,
        };
        // A failed deploy is an alert of the flow's app; a later successful start recovers it.
        if deploy.action != "stop" {
            let (app, target) = (
                flow.bk_app_code.clone(),
                format!("flow {} {}", flow.flow_id, flow.flow_name),
            );
            let biz = nodes.first().map_or(0, |n| n.bk_biz_id);
            let (failing, msg) = match &result {
                Ok(()) => (false, format!("{} succeeded", deploy.action)),
                Err(e) => (true, format!("{} failed: {e}", deploy.action)),
            };
            let _ = db(&self.pool, move |c| {
                bkdata_databus::raise(
                    c,
                    &app,
                    "bkdata flow deploy failed",
                    "flow",
                    &target,
                    biz,
                    2,
                    failing,
                    &msg,
                );
                Ok::<_, String>(())
            })
            .await;
        }
        let (flow_status, deploy_status) = match &result {
            Ok(()) if deploy.action == "stop" => ("no-start", "success"),
            Ok(()) => ("running", "success"),
            Err(e) => {
                self.log(id, "ERROR", format!("{} failed: {e}", deploy.action), None)
                    .await;
                // Never leave a flow half-deployed: whatever started is stopped again.
                if let Err(e2) = self.stop_flow(&deploy, &nodes).await {
                    self.log(id, "ERROR", format!("rolling back: {e2}"), None)
                        .await;
                }
                ("failure", "failure")
            }
        };
        self.log(
            id,
            if result.is_ok() { "INFO" } else { "ERROR" },
            format!("flow is {flow_status}"),
            Some(100.0),
        )
        .await;
        let flow_id = flow.flow_id;
        db(&self.pool, move |c| {
            c.transaction(|c| {
                diesel::update(f::table.find(flow_id))
                    .set((
                        f::status.eq(flow_status),
                        f::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(c)?;
                diesel::update(fd::table.find(id))
                    .set((
                        fd::status.eq(deploy_status),
                        fd::end_time.eq(Some(chrono::Utc::now())),
                    ))
                    .execute(c)
            })
            .map_err(s)
        })
        .await?;
        Ok(())
    }

    /// Create the storage nodes' tables, position and start the realtime nodes, start the
    /// shippers, and wait until every realtime node runs.
    async fn start_flow(
        &self,
        deploy: &FlowDeploy,
        flow: &Flow,
        nodes: &[FlowNode],
    ) -> Result<(), String> {
        let caller = Caller::user(&flow.bk_app_code, &deploy.created_by);
        let mut shippers = Vec::new();
        for n in nodes.iter().filter(|n| is_storage(&n.node_type)) {
            let (rt_id, storage_type, physical) = self.storage_node(n, &caller).await?;
            self.log(
                deploy.id,
                "INFO",
                format!(
                    "storage node {} ({}): {physical} on {} is ready for {rt_id}",
                    n.node_id,
                    n.node_name,
                    n.config["cluster"].as_str().unwrap_or_default()
                ),
                Some(30.0),
            )
            .await;
            // A queue storage is the table's own stream: nothing to ship.
            if storage_type != "queue" {
                shippers.push((rt_id, storage_type));
            }
        }
        let by_id: std::collections::HashMap<i64, &FlowNode> =
            nodes.iter().map(|n| (n.node_id, n)).collect();
        let mut realtime = Vec::new();
        for n in nodes.iter().filter(|n| is_realtime(&n.node_type)) {
            let input = n
                .inputs
                .first()
                .and_then(|i| by_id.get(i))
                .map(|p| p.result_table_id.clone())
                .ok_or_else(|| format!("realtime node {} has no input", n.node_id))?;
            let cp = self
                .position(deploy, n, &input)
                .await
                .map_err(|e| format!("positioning node {} on {input}: {e}", n.node_id))?;
            let (node_id, deploy_id) = (n.node_id, deploy.id);
            db(&self.pool, move |c| {
                c.transaction(|c| {
                    diesel::update(fnd::table.find(node_id))
                        .set((
                            fnd::checkpoint.eq(serde_json::to_value(&cp).ok()),
                            fnd::status.eq("running"),
                            fnd::status_message
                                .eq(format!("deploy {deploy_id}: waiting for a worker")),
                        ))
                        .execute(c)?;
                    enqueue_unique(
                        c,
                        &NewJob::new(RUN_JOB, json!({"node_id": node_id})).max_attempts(1_000_000),
                    )
                })
                .map_err(s)
            })
            .await?;
            realtime.push(n.node_id);
            self.log(
                deploy.id,
                "INFO",
                format!(
                    "realtime node {} ({}) reads {input} ({})",
                    n.node_id, n.node_name, deploy.consuming_mode
                ),
                Some(50.0),
            )
            .await;
        }
        for (rt_id, st) in shippers {
            db(&self.pool, move |c| {
                tasks::start_shipper(c, &rt_id, &st).map_err(s)
            })
            .await?;
        }
        // Running means running: each realtime node's job has opened its input.
        let deadline = Instant::now() + DEPLOY_WAIT;
        loop {
            let ids = realtime.clone();
            let waiting: Vec<(i64, String)> = db(&self.pool, move |c| {
                fnd::table
                    .filter(fnd::node_id.eq_any(&ids))
                    .filter(fnd::status_message.not_like("running%"))
                    .select((fnd::node_id, fnd::status_message))
                    .load(c)
                    .map_err(s)
            })
            .await?;
            if waiting.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let (id, msg) = &waiting[0];
                return Err(format!(
                    "realtime node {id} did not start within {} s: {msg} (are workers running, with free slots?)",
                    DEPLOY_WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let flow_id = flow.flow_id;
        db(&self.pool, move |c| {
            diesel::update(fnd::table.filter(fnd::flow_id.eq(flow_id)))
                .set(fnd::status.eq("running"))
                .execute(c)
                .map_err(s)
        })
        .await?;
        Ok(())
    }

    /// The binding a storage node makes for the table it stores, created (with its physical
    /// table) when it does not exist. Answers `(table, storage type, physical name)`.
    async fn storage_node(
        &self,
        n: &FlowNode,
        caller: &Caller,
    ) -> Result<(String, String, String), String> {
        let cluster = n.config["cluster"].as_str().unwrap_or_default().to_string();
        let mut body = DataStorageRequest {
            result_table_id: Some(n.result_table_id.clone()),
            storage_cluster: Some(cluster.clone()),
            expires: Some(expires_of(&n.config)),
            // Empty: the table's current fields (an edited node's output may have new ones).
            fields: Some(Vec::new()),
            ..DataStorageRequest::default()
        };
        if let Some(keys) = n.config.get("keys").filter(|k| k.is_array()) {
            body.storage_config = Some(json!({"key_fields": keys}));
        }
        if n.node_type == "alert_storage" {
            // The node's event settings are the storage's (see bkdata_databus::alert_sink).
            let keys = [
                "alert_name",
                "severity",
                "target_type",
                "target_field",
                "dedupe_keys",
            ];
            let cfg: serde_json::Map<String, Value> = keys
                .iter()
                .filter_map(|k| n.config.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            body.storage_config = Some(Value::Object(cfg));
        }
        let (caller, node_id) = (caller.clone(), n.node_id);
        let prepared = db(&self.pool, move |c| -> Result<_, String> {
            let ty: String = sc::table
                .find(&cluster)
                .select(sc::cluster_type)
                .first(c)
                .optional()
                .map_err(s)?
                .ok_or_else(|| format!("storage cluster {cluster:?} does not exist"))?;
            body.storage_type = Some(ty.clone());
            let rt = body.result_table_id.clone().unwrap_or_default();
            let existing = bkdata_models::schema::data_storages::table
                .find((&rt, &ty))
                .select(bkdata_models::databus::DataStorage::as_select())
                .first(c)
                .optional()
                .map_err(s)?;
            let p = storages::prepare(c, &caller, &body, existing.as_ref(), None)
                .map_err(|e| format!("storage node {node_id}: {e}"))?;
            Ok((p, existing.is_some()))
        })
        .await?;
        let (p, exists) = prepared;
        p.create_physical()
            .await
            .map_err(|e| format!("storage node {node_id}: creating the table: {e}"))?;
        let out = (
            p.row.result_table_id.clone(),
            p.row.storage_type.clone(),
            p.row.physical_table_name.clone(),
        );
        db(&self.pool, move |c| {
            if exists {
                storages::update(c, &p)
            } else {
                storages::insert(c, &p)
            }
        })
        .await?;
        Ok(out)
    }

    /// Where a realtime node starts, by the deploy's consuming mode: `continue` keeps its
    /// checkpoint (a node never started begins at the input's end, as `from_tail`);
    /// `from_tail` skips what is in the input now; `from_head` re-reads the input from its
    /// first kept record. The last two start a new epoch with fresh windows.
    async fn position(
        &self,
        deploy: &FlowDeploy,
        n: &FlowNode,
        input: &str,
    ) -> Result<Checkpoint, String> {
        let kept: Option<Checkpoint> = n
            .checkpoint
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        if deploy.consuming_mode == "continue" {
            if let Some(cp) = kept {
                return Ok(cp);
            }
        }
        let last_seq = |topic: String| {
            let bus = self.bus.clone();
            async move { Ok::<u64, String>(bus.last(&topic).await.map_err(s)?.map_or(0, |m| m.seq)) }
        };
        let out_base = last_seq(output_topic(&n.result_table_id)).await?;
        let consumed = if deploy.consuming_mode == "from_head" {
            0
        } else {
            last_seq(output_topic(input)).await?
        };
        Ok(Checkpoint {
            epoch: deploy.id,
            out_base,
            replay_from: consumed + 1,
            consumed,
            emitted_to: i64::MIN,
            max_event: None,
        })
    }

    /// Stop the realtime nodes (each writes its checkpoint and ends) and the shippers of the
    /// storage nodes; wait until the realtime jobs are gone.
    async fn stop_flow(&self, deploy: &FlowDeploy, nodes: &[FlowNode]) -> Result<(), String> {
        let realtime: Vec<i64> = nodes
            .iter()
            .filter(|n| is_realtime(&n.node_type))
            .map(|n| n.node_id)
            .collect();
        let stored: Vec<String> = nodes
            .iter()
            .filter(|n| is_storage(&n.node_type))
            .map(|n| n.result_table_id.clone())
            .collect();
        let flow_id = deploy.flow_id;
        let who = deploy.created_by.clone();
        let ids = realtime.clone();
        db(&self.pool, move |c| {
            c.transaction(|c| {
                diesel::update(fnd::table.filter(fnd::flow_id.eq(flow_id)))
                    .set(fnd::status.eq("no-start"))
                    .execute(c)?;
                diesel::update(fnd::table.filter(fnd::node_id.eq_any(&ids)))
                    .set(fnd::status_message.eq(format!("stopped by {who}")))
                    .execute(c)?;
                diesel::update(sh::table.filter(sh::result_table_id.eq_any(&stored)))
                    .set((
                        sh::status.eq("stopped"),
                        sh::status_message.eq(format!("flow {flow_id} stopped by {who}")),
                        sh::updated_at.eq(chrono::Utc::now()),
                    ))
                    .execute(c)
            })
            .map_err(s)
        })
        .await?;
        let deadline = Instant::now() + DEPLOY_WAIT;
        loop {
            let ids = realtime.clone();
            let live: i64 = db(&self.pool, move |c| {
                let data: Vec<Value> = ids.iter().map(|i| json!({"node_id": i})).collect();
                bj::table
                    .filter(bj::job_type.eq(RUN_JOB))
                    .filter(bj::status.eq_any(["queued", "running"]))
                    .filter(bj::data.eq_any(data))
                    .count()
                    .get_result(c)
                    .map_err(s)
            })
            .await?;
            if live == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{live} realtime node(s) did not stop within {} s",
                    DEPLOY_WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !realtime.is_empty() {
            self.log(
                deploy.id,
                "INFO",
                format!("{} realtime node(s) stopped", realtime.len()),
                None,
            )
            .await;
        }
        Ok(())
    }
}

fn is_realtime(t: &str) -> bool {
    graph::PROCESSING_TYPES.contains(&t)
}

fn is_storage(t: &str) -> bool {
    STORAGE_TYPES.iter().any(|(n, _)| *n == t)
}

/// A storage node's `expires` as a data storage takes it: BKData sends days as a number
/// (`3`), or a string (`"7d"`, `"-1"` for never).
fn expires_of(config: &Value) -> String {
    match config.get("expires") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|d| d < 0) => "-1".into(),
        Some(Value::Number(n)) => format!("{n}d"),
        Some(Value::String(x)) if x.trim().parse::<i64>().is_ok_and(|d| d >= 0) => {
            format!("{}d", x.trim())
        }
        Some(Value::String(x)) if !x.trim().is_empty() => x.trim().to_string(),
        _ => "7d".into(),
    }
}

impl JobHandler for DeployJob {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(self.clone().run_deploy(ctx))
    }
}

// ---------------------------------------------------------------------------------------
// A realtime node at work

#[derive(Clone)]
pub struct RunJob {
    pool: PgPool,
    bus: AnyBus,
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
        RunJob { pool, bus }
    }

    async fn node_status(&self, node_id: i64) -> Result<Option<String>, String> {
        db(&self.pool, move |c| {
            fnd::table
                .find(node_id)
                .select(fnd::status)
                .first(c)
                .optional()
                .map_err(s)
        })
        .await
    }

    async fn message(&self, node_id: i64, message: String) -> Result<(), String> {
        db(&self.pool, move |c| {
            diesel::update(fnd::table.find(node_id))
                .set(fnd::status_message.eq(message))
                .execute(c)
                .map_err(s)
        })
        .await
        .map(|_| ())
    }

    async fn save(&self, node_id: i64, cp: &Checkpoint, n: &mut Counts) -> Result<(), String> {
        let cpv = serde_json::to_value(cp).map_err(s)?;
        let c = std::mem::take(n);
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
                .map_err(s)
        })
        .await
        .map(|_| ())
    }

    async fn run_node(self, ctx: JobContext) -> Result<(), String> {
        let node_id = ctx.job.data["node_id"]
            .as_i64()
            .ok_or("job data has no node_id")?;
        let loaded = db(&self.pool, move |c| -> Result<_, String> {
            let n: Option<FlowNode> = fnd::table
                .find(node_id)
                .select(FlowNode::as_select())
                .first(c)
                .optional()
                .map_err(s)?;
            let Some(n) = n else { return Ok(None) };
            let input: String = fnd::table
                .find(n.inputs.first().copied().unwrap_or_default())
                .select(fnd::result_table_id)
                .first(c)
                .map_err(s)?;
            let fields: Value = rt::table
                .find(&input)
                .select(rt::fields)
                .first(c)
                .optional()
                .map_err(s)?
                .ok_or_else(|| format!("input table {input} no longer exists"))?;
            Ok(Some((n, input, fields)))
        })
        .await?;
        let Some((node, input, fields)) = loaded else {
            return Ok(());
        };
        if node.status != "running" {
            return Ok(());
        }
        let fail = |m: String| {
            let this = self.clone();
            async move {
                let _ = this.message(node_id, format!("failed: {m}")).await;
                Err::<(), String>(m)
            }
        };
        let mut cp: Checkpoint = match node.checkpoint.clone().map(serde_json::from_value) {
            Some(Ok(cp)) => cp,
            _ => return fail("the node has no checkpoint: start the flow again".into()).await,
        };
        let config = node.config.as_object().cloned().unwrap_or_default();
        let conf = match graph::window_of(&config) {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()).await,
        };
        let sql_text = config
            .get("sql")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let fields = crate::flows::fields_of(&fields);
        let sql = match FlowSql::compile(sql_text, vec![(input.clone(), schema_of(&fields))]).await
        {
            Ok(q) => q,
            Err(e) => return fail(e.to_string()).await,
        };
        let mut runtime = match WindowRuntime::new(conf, sql, &input) {
            Ok(r) => r,
            Err(e) => return fail(e.to_string()).await,
        };
        let out_topic = output_topic(&node.result_table_id);
        let in_topic = output_topic(&input);

        // What the output says happened after the checkpoint (a crash between publishing and
        // checkpointing): those windows are not emitted again, that input is not recounted.
        let counted_to = cp.consumed;
        let counted_emitted_to = cp.emitted_to;
        let mut seen_to = cp.consumed;
        let mut skip_parts: Option<(i64, usize)> = None;
        let last = self.bus.last(&out_topic).await.map_err(s)?;
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
        let mut consumer = self
            .bus
            .consumer(
                &in_topic,
                &format!("flow_{node_id}"),
                ConsumerOpts {
                    ack_wait: Duration::from_secs(60),
                    from_start: true,
                    start_seq: Some(cp.replay_from.max(1)),
                    take_over: false,
                },
            )
            .await
            .map_err(s)?;
        self.message(
            node_id,
            format!(
                "running on worker {}: input {in_topic} from position {}",
                ctx.worker_id, cp.replay_from
            ),
        )
        .await?;

        let idle_after = idle_timeout();
        let unwindowed = conf.kind == WindowType::None;
        let mut counts = Counts::default();
        let mut last_input = Instant::now();
        let mut next_check = Instant::now();
        let mut dirty = false;
        let mut last_save = Instant::now();
        loop {
            if *ctx.lease_lost.borrow() {
                return Err(
                    "lease lost or worker stopping; another worker resumes the node".into(),
                );
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(500);
                if self.node_status(node_id).await?.as_deref() != Some("running") {
                    self.save(node_id, &cp, &mut counts).await?;
                    return Ok(());
                }
            }
            let deliveries: Vec<Delivery> = consumer
                .fetch(16, Duration::from_millis(200))
                .await
                .map_err(s)?;
            let mut out: Vec<(OutId, Vec<Vec<u8>>)> = Vec::new();
            let local_time = format_ms(chrono::Utc::now().timestamp_millis(), bkdata_tz());
            if !deliveries.is_empty() {
                last_input = Instant::now();
            }
            for d in &deliveries {
                let counted = d.seq > counted_to;
                for rec in &d.records {
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
                    for e in runtime.advance(0).await.map_err(s)? {
                        let lines = lines_of(&e, &local_time);
                        out.extend(split_parts(node_id, cp.epoch, None, d.seq, lines));
                    }
                }
            }
            if !unwindowed {
                let idle = last_input.elapsed().saturating_sub(idle_after);
                let idle_ms = if deliveries.is_empty() {
                    idle.as_millis() as i64
                } else {
                    0
                };
                for e in runtime.advance(idle_ms).await.map_err(s)? {
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
                    .map_err(|e| format!("publishing to {out_topic}: {e}"))?;
                failpoint_after_publish(n);
            }
            let emitted = counts.windows > 0 || counts.rows_out > 0;
            dirty |= emitted || !deliveries.is_empty();
            cp.emitted_to = runtime.emitted_to();
            cp.max_event = runtime.max_event();
            cp.replay_from = runtime.replay_from().unwrap_or(cp.consumed + 1);
            // Output first, then the checkpoint: a crash in between is what the output's
            // message ids cover. Reading alone is checkpointed at most once a second.
            if emitted || (dirty && last_save.elapsed() >= Duration::from_secs(1)) {
                self.save(node_id, &cp, &mut counts).await?;
                dirty = false;
                last_save = Instant::now();
            }
            if !deliveries.is_empty() {
                consumer.ack_all(deliveries).await.map_err(s)?;
            }
        }
    }
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

fn split_parts(
    node: i64,
    epoch: i64,
    end: Option<i64>,
    seq: u64,
    lines: Vec<Vec<u8>>,
) -> Vec<(OutId, Vec<Vec<u8>>)> {
    if lines.is_empty() {
        return Vec::new();
    }
    let parts = lines.len().div_ceil(ROWS_PER_MESSAGE);
    let mut out = Vec::with_capacity(parts);
    let mut it = lines.into_iter().peekable();
    for part in 0..parts {
        let chunk: Vec<Vec<u8>> = it.by_ref().take(ROWS_PER_MESSAGE).collect();
        out.push((
            OutId {
                node,
                epoch,
                end,
                seq,
                part,
                parts,
            },
            chunk,
        ));
    }
    out
}

impl JobHandler for RunJob {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(self.clone().run_node(ctx))
    }
}

/// Job types of this module, for workers to register.
pub const JOB_TYPES: [&str; 2] = [DEPLOY_JOB, RUN_JOB];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_ids_round_trip() {
        for id in [
            OutId {
                node: 7,
                epoch: 3,
                end: Some(1_795_305_900_000),
                seq: 42,
                part: 0,
                parts: 2,
            },
            OutId {
                node: 7,
                epoch: 3,
                end: Some(-300_000),
                seq: 0,
                part: 1,
                parts: 2,
            },
            OutId {
                node: 1,
                epoch: 9,
                end: None,
                seq: 5,
                part: 0,
                parts: 1,
            },
        ] {
            assert_eq!(
                OutId::parse(&id.format()),
                Some(id.clone()),
                "{}",
                id.format()
            );
        }
        assert_eq!(OutId::parse("raw.1:5"), None);
        assert_eq!(OutId::parse("f1.2.x3.s4.0.1"), None);
    }

    #[test]
    fn expires_as_bkdata_sends_it() {
        assert_eq!(expires_of(&json!({"expires": 3})), "3d");
        assert_eq!(expires_of(&json!({"expires": -1})), "-1");
        assert_eq!(expires_of(&json!({"expires": "30"})), "30d");
        assert_eq!(expires_of(&json!({"expires": "7d"})), "7d");
        assert_eq!(expires_of(&json!({})), "7d");
    }

    #[test]
    fn parts_of_a_window() {
        let lines: Vec<Vec<u8>> = (0..2500).map(|i| format!("{i}").into_bytes()).collect();
        let parts = split_parts(1, 2, Some(60_000), 9, lines);
        let sizes: Vec<(usize, usize, usize)> = parts
            .iter()
            .map(|(id, l)| (id.part, id.parts, l.len()))
            .collect();
        assert_eq!(sizes, vec![(0, 3, 1000), (1, 3, 1000), (2, 3, 500)]);
    }
}

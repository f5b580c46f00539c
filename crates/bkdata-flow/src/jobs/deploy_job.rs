//! The `flow_deploy` job: a start, stop or restart of a flow, carried out (storage nodes'
//! tables and shippers, realtime nodes' jobs, the deploy's log and status).
use super::checkpoint::{Checkpoint, Parallel};
use super::exchange_job::{enqueue_parallel, exchange_topic, ExchangeJob};
use super::node_job::{NodeRun, RunJob};
use crate::exchange::MAX_TASKS;
use crate::graph::{self, STORAGE_TYPES};
use anyhow::Context;
use bkdata_api::databus::DataStorageRequest;
use bkdata_bus::{partition_topic, AnyBus, Bus};
use bkdata_databus::clean_job::output_topic;
use bkdata_databus::{bindings, tasks};
use bkdata_models::auth::Caller;
use bkdata_models::databus::{Flow, FlowDeploy, FlowNode};
use bkdata_models::db::call as db;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult};
use bkdata_models::schema::{
    background_jobs as bj, flow_deploys as fd, flow_nodes as fnd, flows as f, result_tables as rt,
    shippers as sh, storage_clusters as sc,
};
use bkdata_models::states::{DeployStatus, FlowStatus, Lifecycle, NodeStatus};
use bkdata_models::PgPool;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a deploy waits for realtime nodes to start or stop.
const DEPLOY_WAIT: Duration = Duration::from_secs(60);

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
        })
        .await;
        if let Err(e) = res {
            log::warn!("deploy {id}: cannot write its log: {e:#}");
        }
    }

    async fn run_deploy(self, job: DeployRun, ctx: JobContext) -> JobResult {
        let id = job.deploy_id;
        let loaded = db(&self.pool, move |c| -> anyhow::Result<_> {
            let d: Option<FlowDeploy> = fd::table
                .find(id)
                .select(FlowDeploy::as_select())
                .first(c)
                .optional()?;
            let Some(d) = d else { return Ok(None) };
            let flow: Flow = f::table
                .find(d.flow_id)
                .select(Flow::as_select())
                .first(c)?;
            let nodes: Vec<FlowNode> = fnd::table
                .filter(fnd::flow_id.eq(d.flow_id))
                .order(fnd::node_id)
                .select(FlowNode::as_select())
                .load(c)?;
            diesel::update(fd::table.find(id))
                .filter(fd::status.eq_any(DeployStatus::LIVE))
                .set((
                    fd::status.eq(DeployStatus::Running),
                    fd::start_time.eq(Some(chrono::Utc::now())),
                ))
                .execute(c)?;
            Ok(Some((d, flow, nodes)))
        })
        .await?;
        let Some((deploy, flow, nodes)) = loaded else {
            return Ok(());
        };
        if deploy.status.is_final() {
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
                Err(e) => (true, format!("{} failed: {e:#}", deploy.action)),
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
                Ok::<_, anyhow::Error>(())
            })
            .await;
        }
        let (flow_status, deploy_status) = match &result {
            Ok(()) if deploy.action == "stop" => (FlowStatus::NoStart, DeployStatus::Success),
            Ok(()) => (FlowStatus::Running, DeployStatus::Success),
            Err(e) => {
                self.log(
                    id,
                    "ERROR",
                    format!("{} failed: {e:#}", deploy.action),
                    None,
                )
                .await;
                // Never leave a flow half-deployed: whatever started is stopped again.
                if let Err(e2) = self.stop_flow(&deploy, &nodes).await {
                    self.log(id, "ERROR", format!("rolling back: {e2:#}"), None)
                        .await;
                }
                (FlowStatus::Failure, DeployStatus::Failure)
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
                // Only from a state that may move there (the deploy's own `starting` or
                // `stopping`), as the flow's lifecycle says.
                diesel::update(
                    f::table
                        .find(flow_id)
                        .filter(f::status.eq_any(FlowStatus::sources(flow_status))),
                )
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
    ) -> anyhow::Result<()> {
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
                .ok_or_else(|| anyhow::anyhow!("realtime node {} has no input", n.node_id))?;
            let table = input.clone();
            let sources: i32 = db(&self.pool, move |c| {
                rt::table.find(&table).select(rt::partitions).first(c)
            })
            .await?;
            let cp = self
                .position(deploy, n, &input, sources.max(1) as u32)
                .await
                .with_context(|| format!("positioning node {} on {input}", n.node_id))?;
            let shape = cp
                .parallel
                .as_ref()
                .map(|p| (p.tasks.len() as u32, p.sources.len() as u32));
            let (node_id, deploy_id) = (n.node_id, deploy.id);
            let out_table = n.result_table_id.clone();
            db(&self.pool, move |c| {
                c.transaction(|c| {
                    diesel::update(fnd::table.find(node_id))
                        .set((
                            fnd::checkpoint.eq(serde_json::to_value(&cp).ok()),
                            fnd::status.eq(NodeStatus::Running),
                            fnd::status_message
                                .eq(format!("deploy {deploy_id}: waiting for a worker")),
                        ))
                        .execute(c)?;
                    match shape {
                        None => {
                            RunJob::enqueue_unique(c, &NodeRun { node_id, task: 0 }).map(|_| ())
                        }
                        Some((tasks, sources)) => {
                            // Task k writes partition k of the node's table.
                            diesel::update(rt::table.find(&out_table))
                                .set(rt::partitions.eq(diesel::dsl::sql::<
                                    diesel::sql_types::Integer,
                                >(&format!(
                                    "GREATEST(partitions, {tasks})"
                                ))))
                                .execute(c)?;
                            enqueue_parallel(c, node_id, tasks, sources)
                        }
                    }
                })
            })
            .await?;
            realtime.push(n.node_id);
            let how = match shape {
                Some((tasks, sources)) => {
                    format!(", {tasks} tasks over {sources} input partitions")
                }
                None => String::new(),
            };
            self.log(
                deploy.id,
                "INFO",
                format!(
                    "realtime node {} ({}) reads {input} ({}{how})",
                    n.node_id, n.node_name, deploy.consuming_mode
                ),
                Some(50.0),
            )
            .await;
        }
        for (rt_id, st) in shippers {
            db(&self.pool, move |c| tasks::start_shipper(c, &rt_id, &st)).await?;
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
            })
            .await?;
            if waiting.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let (id, msg) = &waiting[0];
                return Err(anyhow::anyhow!(
                    "realtime node {id} did not start within {} s: {msg} (are workers running, with free slots?)",
                    DEPLOY_WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let flow_id = flow.flow_id;
        db(&self.pool, move |c| {
            diesel::update(fnd::table.filter(fnd::flow_id.eq(flow_id)))
                .set(fnd::status.eq(NodeStatus::Running))
                .execute(c)
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
    ) -> anyhow::Result<(String, String, String)> {
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
        let node_id = n.node_id;
        let ty: String = db(&self.pool, move |c| {
            sc::table
                .find(&cluster)
                .select(sc::cluster_type)
                .first(c)
                .optional()?
                .ok_or_else(|| anyhow::anyhow!("storage cluster {cluster:?} does not exist"))
        })
        .await?;
        body.storage_type = Some(ty);
        let d = bindings::save(&self.pool, caller, body, bindings::SaveAt::Upsert)
            .await
            .with_context(|| format!("storage node {node_id}"))?;
        Ok((d.result_table_id, d.storage_type, d.physical_table_name))
    }

    /// Where a realtime node starts, by the deploy's consuming mode: `continue` keeps its
    /// checkpoint (a node never started begins at the input's end, as `from_tail`);
    /// `from_tail` skips what is in the input now; `from_head` re-reads the input from its
    /// first kept record. The last two start a new epoch with fresh windows.
    ///
    /// An input of several partitions makes the node parallel (see [`crate::exchange`]): a
    /// task per input partition, each with its own checkpoint, and an exchange per input
    /// partition with its own position.
    async fn position(
        &self,
        deploy: &FlowDeploy,
        n: &FlowNode,
        input: &str,
        sources: u32,
    ) -> anyhow::Result<Checkpoint> {
        let kept: Option<Checkpoint> = n
            .checkpoint
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let keep = deploy.consuming_mode == "continue";
        if keep {
            match kept.clone() {
                Some(mut cp) if cp.parallel.is_some() => {
                    // Partitions the input gained since are exchanged from their start.
                    if let Some(p) = cp.parallel.as_mut() {
                        if p.sources.len() < sources as usize {
                            p.sources.resize(sources as usize, 0);
                        }
                    }
                    return Ok(cp);
                }
                Some(cp) if sources <= 1 => return Ok(cp),
                _ => {}
            }
        }
        let last_seq = |topic: String| {
            let bus = self.bus.clone();
            async move { Ok::<u64, anyhow::Error>(bus.last(&topic).await?.map_or(0, |m| m.seq)) }
        };
        if sources > 1 {
            let tasks = sources.min(MAX_TASKS);
            // A new epoch exchanges afresh: what an earlier one left in the exchange is gone.
            let fx = exchange_topic(n.node_id);
            let before = kept
                .as_ref()
                .and_then(|c| c.parallel.as_ref())
                .map_or(0, |p| p.tasks.len() as u32);
            for k in 0..before.max(tasks) {
                self.bus.delete_topic(&partition_topic(&fx, k)).await?;
            }
            let out = output_topic(&n.result_table_id);
            let mut task_cps = Vec::new();
            for k in 0..tasks {
                self.bus.ensure_topic(&partition_topic(&fx, k)).await?;
                self.bus.ensure_topic(&partition_topic(&out, k)).await?;
                let out_base = last_seq(partition_topic(&out, k)).await?;
                task_cps.push(Checkpoint::fresh(deploy.id, out_base, 0));
            }
            let mut positions = Vec::new();
            match kept.filter(|_| keep) {
                // A node that ran as one continues in parallel: partition 0 from where its
                // open windows start, the newer partitions from their start.
                Some(single) => {
                    positions.push(single.replay_from.saturating_sub(1));
                    positions.resize(sources as usize, 0);
                    for t in &mut task_cps {
                        t.emitted_to = single.emitted_to;
                        t.max_event = single.max_event;
                    }
                }
                None => {
                    for p in 0..sources {
                        positions.push(if deploy.consuming_mode == "from_head" {
                            0
                        } else {
                            last_seq(partition_topic(&output_topic(input), p)).await?
                        });
                    }
                }
            }
            return Ok(Checkpoint {
                parallel: Some(Parallel {
                    tasks: task_cps,
                    sources: positions,
                }),
                ..Checkpoint::fresh(deploy.id, 0, 0)
            });
        }
        let out_base = last_seq(output_topic(&n.result_table_id)).await?;
        let consumed = if deploy.consuming_mode == "from_head" {
            0
        } else {
            last_seq(output_topic(input)).await?
        };
        Ok(Checkpoint::fresh(deploy.id, out_base, consumed))
    }

    /// Stop the realtime nodes (each writes its checkpoint and ends) and the shippers of the
    /// storage nodes; wait until the realtime jobs are gone.
    async fn stop_flow(&self, deploy: &FlowDeploy, nodes: &[FlowNode]) -> anyhow::Result<()> {
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
                    .set(fnd::status.eq(NodeStatus::NoStart))
                    .execute(c)?;
                diesel::update(fnd::table.filter(fnd::node_id.eq_any(&ids)))
                    .set(fnd::status_message.eq(format!("stopped by {who}")))
                    .execute(c)?;
                diesel::update(sh::table.filter(sh::result_table_id.eq_any(&stored)))
                    .set((
                        sh::status.eq(bkdata_models::states::ShipperStatus::Stopped),
                        sh::status_message.eq(format!("flow {flow_id} stopped by {who}")),
                        sh::updated_at.eq(chrono::Utc::now()),
                    ))
                    .execute(c)
            })
        })
        .await?;
        let deadline = Instant::now() + DEPLOY_WAIT;
        loop {
            let ids = realtime.clone();
            let live: i64 = db(&self.pool, move |c| {
                // A node's jobs: its run (or its tasks) and its exchanges.
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                bj::table
                    .filter(bj::job_type.eq_any([RunJob::NAME, ExchangeJob::NAME]))
                    .filter(bj::status.eq_any(bkdata_models::jobs::LIVE))
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Text>("data->>'node_id'").eq_any(ids),
                    )
                    .count()
                    .get_result(c)
            })
            .await?;
            if live == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(anyhow::anyhow!(
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

/// The deploy job's payload: which deploy (start, stop or restart) to carry out.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeployRun {
    pub deploy_id: i64,
}

impl Job for DeployJob {
    const NAME: &'static str = "flow_deploy";
    type Payload = DeployRun;

    fn run(&self, job: DeployRun, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_deploy(job, ctx))
    }
}

/// One line of a deploy's log, as BKData's `get_latest_deploy_info` shows it.
pub(crate) fn log_line(level: &str, message: &str) -> Value {
    json!({"message": message, "level": level, "time": bkdata_databus::rawdata::bk_time(chrono::Utc::now())})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_as_bkdata_sends_it() {
        assert_eq!(expires_of(&json!({"expires": 3})), "3d");
        assert_eq!(expires_of(&json!({"expires": -1})), "-1");
        assert_eq!(expires_of(&json!({"expires": "30"})), "30d");
        assert_eq!(expires_of(&json!({"expires": "7d"})), "7d");
        assert_eq!(expires_of(&json!({})), "7d");
    }
}

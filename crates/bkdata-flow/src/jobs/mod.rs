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
//!
//! `deploy_job` carries out deploys, `node_job` runs a realtime node, `checkpoint` holds the
//! node's progress and the ids of its output messages (pure, unit-tested).
mod checkpoint;
mod deploy_job;
mod exchange_job;
mod node_job;

pub use checkpoint::{Checkpoint, Parallel};
pub(crate) use deploy_job::log_line;
pub use deploy_job::{DeployJob, DeployRun};
pub use exchange_job::{exchange_topic, ExchangeJob, ExchangeRun};
pub use node_job::{NodeRun, RunJob, IDLE_AFTER};

//! The worker process: claims jobs from Postgres and runs them. `pipeline_execute` jobs run
//! each execution in a child process (`bkdata-worker run-execution <id>`, the same binary);
//! `clean_run` jobs are running cleans and `ship_run` jobs running shippers (long-running,
//! leased: they move if the worker dies); `storage_expire` drops expired rows, queued by every
//! worker on a timer (at most one queued or running at a time); `flow_deploy` jobs start, stop
//! and restart flows and `flow_run` jobs run their realtime nodes; `alert_build` jobs (queued
//! by alert ingest and on a timer) build alerts from events, and one `alert_ingest` job
//! consumes the bus topic `alert.events`.
//! The worker also samples host metrics into `system_metrics`. SIGTERM stops claiming, waits
//! for running jobs up to the grace period, then releases the rest to other workers.
use anyhow::Context;
use bkdata_models::db;
use bkdata_models::jobs::{mark_worker_stopped, register_worker, Runner, RunnerConfig};
use bkdata_pipeline::{ExecuteJob, ExecutorConfig, StepRegistry};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "The bkdata background worker")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run jobs until SIGTERM (the default).
    Run,
    /// Internal: run one pipeline execution (started by the worker as a child process).
    RunExecution { execution_id: String },
}

/// Worker settings, from the environment (see `.env.sample`).
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub worker_id: String,
    pub concurrency: usize,
    /// Most PostgreSQL connections the worker opens (`BKDATA_WORKER_POOL_SIZE`, default
    /// concurrency + 4), besides one for LISTEN and those its shippers open to storages.
    pub pool_size: u32,
    pub lease: Duration,
    pub poll: Duration,
    pub retry_base: Duration,
    pub shutdown_grace: Duration,
    pub metrics_interval: Duration,
    pub expire_interval: Duration,
    /// One NATS server, or a comma-separated list of a cluster's.
    pub nats_url: String,
    /// Copies of each stream on a NATS cluster (`BKDATA_BUS_REPLICAS`).
    pub bus_replicas: usize,
    pub bus_prefix: String,
    /// How often the worker queues an alert build (it also closes due alerts).
    pub alert_poll: Duration,
    /// After this long without input, a realtime node's watermark moves on with the clock.
    pub flow_idle: Duration,
    pub alert: bkdata_alert::job::AlertConfig,
}

use bkdata_models::env::var as env;

fn num<T: std::str::FromStr>(k: &str, d: T) -> anyhow::Result<T> {
    bkdata_models::env::num(k, d).map_err(anyhow::Error::msg)
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let host = bkdata_pipeline::monitor::hostname();
        let concurrency = num("BKDATA_WORKER_CONCURRENCY", 32usize)?.max(1);
        Ok(Config {
            database_url: env("DATABASE_URL").unwrap_or_else(|| db::DEFAULT_DATABASE_URL.into()),
            data_dir: env("BKDATA_DATA_DIR")
                .unwrap_or_else(|| "./data/pipeline".into())
                .into(),
            worker_id: env("BKDATA_WORKER_ID")
                .unwrap_or_else(|| format!("{host}-{}", std::process::id())),
            concurrency,
            pool_size: num("BKDATA_WORKER_POOL_SIZE", concurrency as u32 + 4)?.max(2),
            lease: Duration::from_millis(num("BKDATA_JOB_LEASE_MS", 30_000u64)?.max(300)),
            poll: Duration::from_millis(num("BKDATA_JOB_POLL_MS", 1_000u64)?.max(10)),
            retry_base: Duration::from_millis(num("BKDATA_JOB_RETRY_BASE_MS", 2_000u64)?),
            shutdown_grace: Duration::from_millis(num("BKDATA_SHUTDOWN_GRACE_MS", 30_000u64)?),
            metrics_interval: Duration::from_millis(
                num("BKDATA_METRICS_INTERVAL_MS", 60_000u64)?.max(500),
            ),
            expire_interval: Duration::from_millis(
                num("BKDATA_EXPIRE_INTERVAL_MS", 600_000u64)?.max(100),
            ),
            nats_url: env("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            bus_replicas: num("BKDATA_BUS_REPLICAS", 1usize)?.max(1),
            bus_prefix: env("BKDATA_BUS_PREFIX").unwrap_or_else(|| "bkdata".into()),
            alert_poll: Duration::from_millis(num("BKDATA_ALERT_POLL_MS", 1_000u64)?.max(50)),
            flow_idle: Duration::from_millis(num(
                "BKDATA_FLOW_IDLE_MS",
                bkdata_flow::jobs::IDLE_AFTER.as_millis() as u64,
            )?),
            alert: bkdata_alert::job::AlertConfig::from_env(),
        })
    }
}

/// The worker's `main`, with the steps it runs; `extend` may register more job types.
pub fn main_with(
    registry: StepRegistry,
    extend: impl FnOnce(Runner) -> Runner,
) -> anyhow::Result<()> {
    bkdata_models::alloc::keep_freed_memory();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::RunExecution { execution_id } => {
            let pool = db::pool(&config.database_url, 2)?;
            bkdata_pipeline::run_child(pool, &registry, config.data_dir, &execution_id)
                .with_context(|| format!("execution {execution_id}"))?;
            Ok(())
        }
        Command::Run => run(config, extend),
    }
}

fn run(config: Config, extend: impl FnOnce(Runner) -> Runner) -> anyhow::Result<()> {
    db::ensure_migrated(&config.database_url)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let pool = db::pool(&config.database_url, config.pool_size)?;
    {
        let mut c = pool.get()?;
        register_worker(
            &mut c,
            &config.worker_id,
            &bkdata_pipeline::monitor::hostname(),
        )?;
    }
    let exe = std::env::current_exe().context("cannot find the worker executable")?;
    let execute = ExecuteJob::new(
        ExecutorConfig {
            child_exe: exe,
            child_args: vec!["run-execution".into()],
            database_url: config.database_url.clone(),
            data_root: config.data_dir.canonicalize()?,
            cancel_poll: Duration::from_millis(250),
        },
        pool.clone(),
    );
    let running = execute.running();
    let mut rc = RunnerConfig::new(&config.worker_id, &config.database_url);
    rc.concurrency = config.concurrency;
    rc.lease = config.lease;
    rc.poll_interval = config.poll;
    rc.retry_base = config.retry_base;
    rc.shutdown_grace = config.shutdown_grace;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bus = rt
        .block_on(bkdata_bus::AnyBus::connect(
            &config.nats_url,
            &config.bus_prefix,
        ))?
        .with_max_age(bkdata_bus::max_age_from_env()?)
        .with_replicas(config.bus_replicas);
    // The databus stores `alert` rows and raises platform faults through the alert path.
    bkdata_databus::alerts::install(std::sync::Arc::new(bkdata_alert::AlertPath));
    let clean = bkdata_databus::clean_job::CleanJob::new(pool.clone(), bus.clone());
    let ship = bkdata_databus::shipper::ShipJob::new(pool.clone(), bus.clone());
    let deploy = bkdata_flow::jobs::DeployJob::new(pool.clone(), bus.clone());
    let flow_run =
        bkdata_flow::jobs::RunJob::new(pool.clone(), bus.clone()).idle_after(config.flow_idle);
    let flow_exchange = bkdata_flow::jobs::ExchangeJob::new(pool.clone(), bus.clone());
    let alert_ingest = bkdata_alert::bus::IngestJob::new(pool.clone(), bus.clone());
    let runner = extend(
        Runner::new(rc, pool.clone())
            .job(execute)
            .job(clean)
            .job(ship)
            .job(deploy)
            .job(flow_run)
            .job(flow_exchange)
            .job(bkdata_databus::expire_job::ExpireJob::new(pool.clone()))
            .job(bkdata_alert::job::BuildJob::new(
                pool.clone(),
                bus,
                &config.alert,
            ))
            .job(alert_ingest),
    );
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            log::info!("shutdown requested: finishing running jobs");
            let _ = tx.send(true);
        });
        let sampler = {
            let (pool, id, dir, every) = (
                pool.clone(),
                config.worker_id.clone(),
                config.data_dir.clone(),
                config.metrics_interval,
            );
            tokio::spawn(async move {
                loop {
                    let (pool, id, dir, running) =
                        (pool.clone(), id.clone(), dir.clone(), running.clone());
                    let res = db::call(&pool, move |c| -> anyhow::Result<()> {
                        let s = bkdata_pipeline::monitor::sample_host(&dir);
                        bkdata_pipeline::monitor::record_sample(
                            c,
                            &id,
                            &s,
                            running.load(Ordering::SeqCst),
                        )?;
                        bkdata_pipeline::monitor::prune_samples(c, 7)?;
                        Ok(())
                    })
                    .await;
                    if let Err(e) = res {
                        log::warn!("metrics sample failed: {e:#}");
                    }
                    tokio::time::sleep(every).await;
                }
            })
        };
        let expirer = {
            let (pool, every) = (pool.clone(), config.expire_interval);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let res = db::call(&pool, bkdata_databus::expire_job::schedule_expire).await;
                    if let Err(e) = res {
                        log::warn!("scheduling storage expiry failed: {e:#}");
                    }
                }
            })
        };
        let alerts = {
            let (pool, every) = (pool.clone(), config.alert_poll);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let res = db::call(&pool, |c| -> anyhow::Result<()> {
                        bkdata_alert::job::schedule(c)?;
                        bkdata_alert::bus::schedule(c)?;
                        Ok(())
                    })
                    .await;
                    if let Err(e) = res {
                        log::warn!("scheduling the alert builder failed: {e:#}");
                    }
                }
            })
        };
        log::info!(
            "bkdata-worker {} started (concurrency {}, database {})",
            config.worker_id,
            config.concurrency,
            db::redact_url(&config.database_url)
        );
        let result = runner.run(rx).await;
        sampler.abort();
        expirer.abort();
        alerts.abort();
        let mut c = pool.get()?;
        mark_worker_stopped(&mut c, &config.worker_id)?;
        log::info!("bkdata-worker {} stopped", config.worker_id);
        result.map_err(anyhow::Error::from)
    })
}

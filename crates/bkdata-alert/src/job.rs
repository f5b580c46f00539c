//! The builder in workers: an `alert_build` job drains the pending events in batches, then
//! closes the alerts whose `next_status` is due. Ingest queues it; each worker also queues it
//! on a timer (`BKDATA_ALERT_POLL_MS`), so nothing waits for the next ingest. One runs at a
//! time per queue entry; concurrent builders are safe all the same (see `store`).
use crate::store::{build_batch, close_due, Cache};
use bkdata_models::jobs::{enqueue_unique, BoxFuture, JobContext, JobHandler, NewJob};
use bkdata_models::PgPool;
use std::sync::{Arc, Mutex};

pub const BUILD_JOB: &str = "alert_build";
/// Events a builder pass takes at once.
pub const BATCH: i64 = 5_000;

/// Queue a build unless one is queued or running.
pub fn schedule(conn: &mut diesel::PgConnection) -> diesel::QueryResult<bool> {
    let mut job = NewJob::new(BUILD_JOB, serde_json::json!({}));
    job.max_attempts = 3;
    enqueue_unique(conn, &job)
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
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
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
    cache: Arc<Mutex<Cache>>,
    es_cluster: Option<String>,
    es: Arc<tokio::sync::Mutex<Option<crate::es::EsWriter>>>,
}

impl BuildJob {
    pub fn new(pool: PgPool, config: &AlertConfig) -> Self {
        let mut cache = Cache::new(config.redis_url.as_deref(), &config.redis_prefix);
        cache.es_outbox = config.es_cluster.is_some();
        BuildJob {
            pool,
            cache: Arc::new(Mutex::new(cache)),
            es_cluster: config.es_cluster.clone(),
            es: Arc::default(),
        }
    }
}

/// Drain the pending events, then close what is due; answers the events built.
pub fn drain(pool: &PgPool, cache: &Mutex<Cache>) -> Result<usize, String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let mut cache = cache
        .lock()
        .map_err(|_| "alert cache lock poisoned".to_string())?;
    let mut total = 0;
    loop {
        let now = chrono::Utc::now().timestamp();
        let s = build_batch(&mut conn, &mut cache, BATCH, now).map_err(|e| e.to_string())?;
        total += s.events;
        if (s.events as i64) < BATCH {
            break;
        }
    }
    close_due(&mut conn, &mut cache, chrono::Utc::now().timestamp()).map_err(|e| e.to_string())?;
    Ok(total)
}

impl JobHandler for BuildJob {
    fn run(&self, _ctx: JobContext) -> BoxFuture<'static, Result<(), String>> {
        let (pool, cache) = (self.pool.clone(), self.cache.clone());
        let (cluster, es) = (self.es_cluster.clone(), self.es.clone());
        Box::pin(async move {
            let p = pool.clone();
            tokio::task::spawn_blocking(move || drain(&p, &cache))
                .await
                .map_err(|e| e.to_string())??;
            if let Some(name) = cluster {
                // Documents wait in the outbox while ES is away; the build itself is done.
                if let Err(e) = flush_es(&pool, &name, &es).await {
                    log::warn!("alert documents to es cluster {name}: {e}; they stay queued");
                }
            }
            Ok(())
        })
    }
}

/// Send the queued alert and event documents to the cluster, until the queue is empty.
async fn flush_es(
    pool: &PgPool,
    cluster: &str,
    es: &tokio::sync::Mutex<Option<crate::es::EsWriter>>,
) -> Result<(), String> {
    let mut guard = es.lock().await;
    if guard.is_none() {
        let (pool, cluster) = (pool.clone(), cluster.to_string());
        let w = tokio::task::spawn_blocking(move || {
            let mut c = pool.get().map_err(|e| e.to_string())?;
            crate::es::EsWriter::for_cluster(&mut c, &cluster)
        })
        .await
        .map_err(|e| e.to_string())??;
        *guard = Some(w);
    }
    let writer = guard.as_mut().ok_or("no es writer")?;
    loop {
        let f = writer.flush(pool, 2_000).await?;
        if f.written + f.refused < 2_000 {
            return Ok(());
        }
    }
}

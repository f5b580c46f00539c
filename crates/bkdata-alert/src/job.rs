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
}

impl AlertConfig {
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        AlertConfig {
            redis_url: Some(env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into())),
            redis_prefix: env("BKDATA_ALERT_REDIS_PREFIX")
                .unwrap_or_else(|| "bkmonitorv3.ee".into()),
        }
    }
}

pub struct BuildJob {
    pool: PgPool,
    cache: Arc<Mutex<Cache>>,
}

impl BuildJob {
    pub fn new(pool: PgPool, config: &AlertConfig) -> Self {
        BuildJob {
            pool,
            cache: Arc::new(Mutex::new(Cache::new(
                config.redis_url.as_deref(),
                &config.redis_prefix,
            ))),
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
        Box::pin(async move {
            tokio::task::spawn_blocking(move || drain(&pool, &cache))
                .await
                .map_err(|e| e.to_string())?
                .map(|_| ())
        })
    }
}

//! The Postgres job queue.
//!
//! Lifecycle: `queued` → (claimed with `FOR UPDATE SKIP LOCKED`) `running` with a lease →
//! deleted on success, or back to `queued` with a backoff `run_at` on error, or `failed` when
//! out of attempts. A runner renews the leases of its jobs with a heartbeat; a job whose lease
//! expired (its worker was killed or stalled) is put back to `queued` by any runner and run
//! again, or marked `failed` (and its handler's `abandoned` hook called) when out of attempts.
//! Idle runners wake on `LISTEN background_jobs` (a trigger notifies on insert) and poll as a
//! fallback. Handlers must be idempotent: a job may run again after a crash.
use crate::db::PgPool;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text};
pub use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

mod job;
use job::Typed;
pub use job::{Job, JobContext, JobHandler, JobResult, NoPayload};

pub const NOTIFY_CHANNEL: &str = "background_jobs";
/// A job's `status` while it is to run or runs (then deleted on success, or `failed`).
pub const LIVE: [&str; 2] = ["queued", "running"];

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_type: String,
    pub data: Value,
    pub priority: i16,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(job_type: &str, data: Value) -> Self {
        NewJob {
            job_type: job_type.to_string(),
            data,
            priority: 0,
            max_attempts: 5,
        }
    }
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// Enqueue one job; answers its id. Runs inside the caller's transaction when there is one,
/// so a job is visible exactly when the state it refers to is.
pub fn enqueue(conn: &mut PgConnection, job: &NewJob) -> QueryResult<i64> {
    use crate::schema::background_jobs::dsl as j;
    diesel::insert_into(j::background_jobs)
        .values((
            j::job_type.eq(&job.job_type),
            j::data.eq(&job.data),
            j::priority.eq(job.priority),
            j::max_attempts.eq(job.max_attempts),
        ))
        .returning(j::id)
        .get_result(conn)
}

/// Enqueue a job unless one of the same type and data is queued or running (long-running jobs
/// such as a clean or a shipper must run once). Answers whether it was enqueued.
pub fn enqueue_unique(conn: &mut PgConnection, job: &NewJob) -> QueryResult<bool> {
    use crate::schema::background_jobs::dsl as j;
    conn.transaction(|conn| {
        // Serialise concurrent starts of the same job; released at commit.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(format!("{}:{}", job.job_type, job.data))
            .execute(conn)?;
        let live: i64 = j::background_jobs
            .filter(j::job_type.eq(&job.job_type))
            .filter(j::status.eq_any(LIVE))
            .filter(j::data.eq(&job.data))
            .count()
            .get_result(conn)?;
        if live > 0 {
            return Ok(false);
        }
        enqueue(conn, job)?;
        Ok(true)
    })
}

/// Enqueue many jobs in one statement (one notification).
pub fn enqueue_many(conn: &mut PgConnection, jobs: &[NewJob]) -> QueryResult<usize> {
    use crate::schema::background_jobs::dsl as j;
    let rows: Vec<_> = jobs
        .iter()
        .map(|job| {
            (
                j::job_type.eq(&job.job_type),
                j::data.eq(&job.data),
                j::priority.eq(job.priority),
                j::max_attempts.eq(job.max_attempts),
            )
        })
        .collect();
    let mut n = 0;
    // Postgres caps bind parameters at 65535 per statement.
    for chunk in rows.chunks(10_000) {
        n += diesel::insert_into(j::background_jobs)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(n)
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
}

pub fn queue_stats(conn: &mut PgConnection) -> QueryResult<QueueStats> {
    use crate::schema::background_jobs::dsl as j;
    let rows: Vec<(String, i64)> = j::background_jobs
        .group_by(j::status)
        .select((j::status, diesel::dsl::count_star()))
        .load(conn)?;
    let mut s = QueueStats::default();
    for (status, n) in rows {
        match status.as_str() {
            "queued" => s.queued = n,
            "running" => s.running = n,
            _ => s.failed += n,
        }
    }
    Ok(s)
}

/// A claimed job as a handler sees it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub job_type: String,
    #[diesel(sql_type = Jsonb)]
    pub data: Value,
    /// 1 on the first run.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Integer)]
    pub max_attempts: i32,
    /// Why the previous attempt ended, e.g. a lost lease after a worker died.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// Claim up to `limit` ready jobs for `worker_id`, none of the `spread` types.
pub fn claim(
    conn: &mut PgConnection,
    worker_id: &str,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<ClaimedJob>> {
    claim_except(conn, worker_id, limit, lease, &[])
}

fn claim_except(
    conn: &mut PgConnection,
    worker_id: &str,
    limit: i64,
    lease: Duration,
    spread: &[String],
) -> QueryResult<Vec<ClaimedJob>> {
    diesel::sql_query(
        "UPDATE background_jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now() \
         WHERE id IN (SELECT id FROM background_jobs WHERE status = 'queued' AND run_at <= now() \
             AND job_type <> ALL($4) \
             ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, job_type, data, attempts, max_attempts, last_error",
    )
    .bind::<Text, _>(worker_id)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .bind::<Array<Text>, _>(spread)
    .load(conn)
}

/// How the live jobs of the spread types stand: how many there are and over how many live
/// workers (registered, not stopped, seen within `lease`; at least 1).
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct Spread {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub workers: i64,
}

impl Spread {
    /// The most such jobs one worker should hold: an even share, rounded up so every job has
    /// a place.
    pub fn share(&self) -> i64 {
        (self.total + self.workers - 1) / self.workers.max(1)
    }
}

pub fn spread_of(
    conn: &mut PgConnection,
    types: &[String],
    lease: Duration,
) -> QueryResult<Spread> {
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM background_jobs WHERE job_type = ANY($1) \
                 AND status IN ('queued', 'running')) AS total, \
                (SELECT greatest(count(*), 1) FROM workers WHERE stopped_at IS NULL \
                 AND last_seen_at > now() - $2 * interval '1 millisecond') AS workers",
    )
    .bind::<Array<Text>, _>(types)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .get_result(conn)
}

/// Claim ready jobs of the `spread` types, up to `limit` and, type by type, up to what keeps
/// this worker within its share of that type ([`Spread::share`]). Per type, because the types
/// differ in cost (a node's exchanges do more than its tasks): one share over all of them
/// would let the first worker up take every exchange.
pub fn claim_spread(
    conn: &mut PgConnection,
    worker_id: &str,
    limit: i64,
    lease: Duration,
    spread: &[String],
) -> QueryResult<Vec<ClaimedJob>> {
    let mut out = Vec::new();
    for t in spread {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        let s = spread_of(conn, std::slice::from_ref(t), lease)?;
        let mine: i64 = {
            use crate::schema::background_jobs::dsl as j;
            j::background_jobs
                .filter(j::job_type.eq(t))
                .filter(j::status.eq("running"))
                .filter(j::locked_by.eq(worker_id))
                .count()
                .get_result(conn)?
        };
        let room = (s.share() - mine).min(left);
        if room <= 0 {
            continue;
        }
        out.extend(
            diesel::sql_query(
                "UPDATE background_jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
                     lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now() \
                 WHERE id IN (SELECT id FROM background_jobs WHERE status = 'queued' AND run_at <= now() \
                     AND job_type = $4 \
                     ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, job_type, data, attempts, max_attempts, last_error",
            )
            .bind::<Text, _>(worker_id)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(lease.as_millis() as i64)
            .bind::<Text, _>(t)
            .load::<ClaimedJob>(conn)?,
        );
    }
    Ok(out)
}

/// Delete finished jobs (only those this worker still holds).
pub fn complete(conn: &mut PgConnection, worker_id: &str, ids: &[i64]) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM background_jobs WHERE id = ANY($1) AND locked_by = $2")
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Text, _>(worker_id)
        .execute(conn)
}

/// Record a failed attempt: retry after `backoff`, or mark `failed` when out of attempts.
pub fn fail(
    conn: &mut PgConnection,
    worker_id: &str,
    id: i64,
    error: &str,
    backoff: Duration,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE background_jobs SET \
             status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
             run_at = now() + $4 * interval '1 millisecond', last_error = $3, \
             locked_by = NULL, lease_expires_at = NULL, updated_at = now() \
         WHERE id = $1 AND locked_by = $2",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(worker_id)
    .bind::<Text, _>(error)
    .bind::<BigInt, _>(backoff.as_millis() as i64)
    .execute(conn)
}

/// Give jobs back without counting the attempt (graceful shutdown).
pub fn release(conn: &mut PgConnection, worker_id: &str, ids: &[i64]) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE background_jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), \
             locked_by = NULL, lease_expires_at = NULL, run_at = now(), \
             last_error = 'released by worker ' || $2 || ' (stopping, or sharing with another)', updated_at = now() \
         WHERE id = ANY($1) AND locked_by = $2",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Text, _>(worker_id)
    .execute(conn)?;
    // Other idle workers should pick them up at once.
    diesel::sql_query(format!("NOTIFY {NOTIFY_CHANNEL}")).execute(conn)
}

/// Extend the leases of `ids`; answers the ids this worker still holds.
pub fn heartbeat(
    conn: &mut PgConnection,
    worker_id: &str,
    ids: &[i64],
    lease: Duration,
) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let held: Vec<Id> = diesel::sql_query(
        "UPDATE background_jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' \
         WHERE id = ANY($1) AND locked_by = $2 AND status = 'running' RETURNING id",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Text, _>(worker_id)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .load(conn)?;
    Ok(held.into_iter().map(|r| r.id).collect())
}

/// Put jobs whose lease expired back in the queue, or mark them failed when out of
/// attempts; answers the failed ones so their handlers can record why.
pub fn recover_expired(conn: &mut PgConnection) -> QueryResult<(usize, Vec<ClaimedJob>)> {
    let requeued = diesel::sql_query(
        "UPDATE background_jobs SET status = 'queued', run_at = now(), \
             last_error = 'worker ' || coalesce(locked_by, '?') || ' lost its lease (killed or stalled)', \
             locked_by = NULL, lease_expires_at = NULL, updated_at = now() \
         WHERE status = 'running' AND lease_expires_at < now() AND attempts < max_attempts",
    )
    .execute(conn)?;
    let dead = diesel::sql_query(
        "UPDATE background_jobs SET status = 'failed', \
             last_error = 'worker ' || coalesce(locked_by, '?') || ' lost its lease on the last attempt', \
             locked_by = NULL, lease_expires_at = NULL, updated_at = now() \
         WHERE status = 'running' AND lease_expires_at < now() AND attempts >= max_attempts \
         RETURNING id, job_type, data, attempts, max_attempts, last_error",
    )
    .load(conn)?;
    if requeued > 0 {
        diesel::sql_query(format!("NOTIFY {NOTIFY_CHANNEL}")).execute(conn)?;
    }
    Ok((requeued, dead))
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub worker_id: String,
    pub database_url: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a SIGTERM waits for running jobs before releasing them.
    pub shutdown_grace: Duration,
}

impl RunnerConfig {
    pub fn new(worker_id: &str, database_url: &str) -> Self {
        RunnerConfig {
            worker_id: worker_id.to_string(),
            database_url: database_url.to_string(),
            concurrency: 8,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    fn backoff(&self, attempt: i32) -> Duration {
        let factor = 1u32 << (attempt.clamp(1, 16) - 1);
        (self.retry_base * factor).min(self.retry_max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("blocking task: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot start the runner: {0}")]
    Start(String),
}

/// Stops the heartbeat thread however `run` ends.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

type Handlers = HashMap<String, Arc<dyn JobHandler>>;

/// Runs jobs of the registered types until `shutdown` turns true.
pub struct Runner {
    cfg: RunnerConfig,
    pool: PgPool,
    handlers: Handlers,
    /// Job types shared evenly over the workers ([`Job::SPREAD`]).
    spread: Vec<String>,
}

struct Inflight {
    lost: watch::Sender<bool>,
    job_type: String,
    /// Of a spread type: counts towards this worker's share of that type.
    spread: bool,
    /// Set at shutdown: an error from this job means "stopped", and the job is released
    /// for another worker instead of counted as a failed attempt.
    releasing: bool,
}

async fn blocking<T: Send + 'static>(
    pool: &PgPool,
    f: impl FnOnce(&mut PgConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T, RunnerError> {
    crate::db::blocking(pool, move |c| Ok(f(c)?)).await
}

impl Runner {
    pub fn new(cfg: RunnerConfig, pool: PgPool) -> Self {
        Runner {
            cfg,
            pool,
            handlers: HashMap::new(),
            spread: Vec::new(),
        }
    }

    pub fn register(mut self, job_type: &str, handler: impl JobHandler) -> Self {
        self.handlers
            .insert(job_type.to_string(), Arc::new(handler));
        self
    }

    /// Run jobs of `J`'s type with `job`.
    pub fn job<J: Job>(mut self, job: J) -> Self {
        if J::SPREAD {
            self.spread.push(J::NAME.to_string());
        }
        self.register(J::NAME, Typed(job))
    }

    pub fn worker_id(&self) -> &str {
        &self.cfg.worker_id
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), RunnerError> {
        let cfg = Arc::new(self.cfg);
        let pool = self.pool;
        let handlers = Arc::new(self.handlers);
        let spread = Arc::new(self.spread);
        let wake = Arc::new(Notify::new());
        let slot_freed = Arc::new(Notify::new());
        let inflight: Arc<Mutex<HashMap<i64, Inflight>>> = Arc::default();
        let (done_tx, done_rx) = mpsc::unbounded_channel::<(i64, i32, Result<(), String>)>();

        let listener = tokio::spawn(listen(cfg.database_url.clone(), wake.clone()));
        let beat_stop = StopOnDrop(Arc::new(std::sync::atomic::AtomicBool::new(false)));
        let beat = {
            let (cfg, pool, inflight, spread, stop) = (
                cfg.clone(),
                pool.clone(),
                inflight.clone(),
                spread.clone(),
                beat_stop.0.clone(),
            );
            std::thread::Builder::new()
                .name("job-heartbeat".into())
                .spawn(move || heartbeat_loop(cfg, pool, inflight, spread, stop))
                .map_err(|e| RunnerError::Start(format!("heartbeat thread: {e}")))?
        };
        let completer = tokio::spawn(complete_loop(
            cfg.clone(),
            pool.clone(),
            inflight.clone(),
            slot_freed.clone(),
            done_rx,
        ));

        let mut next_recovery = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= next_recovery {
                next_recovery = tokio::time::Instant::now() + cfg.poll_interval;
                match blocking(&pool, recover_expired).await {
                    Ok((requeued, dead)) => {
                        if requeued > 0 {
                            log::warn!("requeued {requeued} job(s) whose worker lost its lease");
                        }
                        for job in dead {
                            log::error!(
                                "job {} ({}) abandoned: {:?}",
                                job.id,
                                job.job_type,
                                job.last_error
                            );
                            if let Some(h) = handlers.get(&job.job_type) {
                                h.abandoned(job).await;
                            }
                        }
                    }
                    Err(e) => log::warn!("lease recovery failed: {e}"),
                }
            }
            let free = cfg
                .concurrency
                .saturating_sub(inflight.lock().unwrap().len());
            let mut claimed_all = false;
            if free > 0 {
                let (worker, lease, types) = (cfg.worker_id.clone(), cfg.lease, spread.clone());
                // Other jobs first, then spread ones within this worker's share.
                let claimed = blocking(&pool, move |c| {
                    let mut jobs = claim_except(c, &worker, free as i64, lease, &types)?;
                    let left = free - jobs.len();
                    if left > 0 && !types.is_empty() {
                        jobs.extend(claim_spread(c, &worker, left as i64, lease, &types)?);
                    }
                    Ok(jobs)
                })
                .await;
                match claimed {
                    Ok(jobs) => {
                        claimed_all = jobs.len() == free;
                        for job in jobs {
                            let spread = spread.contains(&job.job_type);
                            start_job(&cfg, &handlers, &inflight, &done_tx, job, spread);
                        }
                    }
                    Err(e) => log::warn!("claiming jobs failed: {e}"),
                }
            }
            // With every slot taken, the next claim waits for a free slot; otherwise for a
            // notification, the poll tick, or shutdown.
            let full = claimed_all || free == 0;
            tokio::select! {
                _ = slot_freed.notified(), if full => {}
                _ = wake.notified(), if !full => {}
                _ = tokio::time::sleep_until(next_recovery) => {}
                _ = shutdown.changed() => {}
            }
        }

        // Shutdown: no longer a worker others share with (they take their share of what this
        // one gives back at once). Then wait for running jobs. Past the grace period, stop
        // the rest first (their handlers stop their work), then release them: another worker
        // must not pick a job up while this one still runs it.
        let worker = cfg.worker_id.clone();
        if let Err(e) = blocking(&pool, move |c| {
            diesel::sql_query("UPDATE workers SET stopped_at = now() WHERE worker_id = $1")
                .bind::<Text, _>(&worker)
                .execute(c)
        })
        .await
        {
            log::warn!("marking this worker stopped failed: {e}");
        }
        let deadline = tokio::time::Instant::now() + cfg.shutdown_grace;
        while !inflight.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(100), slot_freed.notified()).await;
        }
        let stopping: usize = {
            let mut map = inflight.lock().unwrap();
            for f in map.values_mut() {
                f.releasing = true;
                let _ = f.lost.send(true);
            }
            map.len()
        };
        if stopping > 0 {
            log::warn!("stopping {stopping} running job(s) at shutdown; they go back to the queue");
            let stop_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !inflight.lock().unwrap().is_empty()
                && tokio::time::Instant::now() < stop_deadline
            {
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), slot_freed.notified()).await;
            }
            // Handlers that did not stop in time are released anyway (their tasks end with the runtime).
            let left: Vec<i64> = inflight.lock().unwrap().keys().copied().collect();
            if !left.is_empty() {
                let worker = cfg.worker_id.clone();
                blocking(&pool, move |c| release(c, &worker, &left)).await?;
            }
        }
        listener.abort();
        drop(beat_stop);
        let _ = tokio::task::spawn_blocking(move || beat.join()).await;
        drop(done_tx);
        let _ = completer.await;
        Ok(())
    }
}

fn start_job(
    cfg: &Arc<RunnerConfig>,
    handlers: &Arc<Handlers>,
    inflight: &Arc<Mutex<HashMap<i64, Inflight>>>,
    done_tx: &mpsc::UnboundedSender<(i64, i32, Result<(), String>)>,
    job: ClaimedJob,
    spread: bool,
) {
    let (lost_tx, lost_rx) = watch::channel(false);
    inflight.lock().unwrap().insert(
        job.id,
        Inflight {
            lost: lost_tx,
            job_type: job.job_type.clone(),
            spread,
            releasing: false,
        },
    );
    let (id, attempt) = (job.id, job.attempts);
    let handler = handlers.get(&job.job_type).cloned();
    let ctx = JobContext {
        job,
        worker_id: cfg.worker_id.clone(),
        lease_lost: lost_rx,
    };
    let done_tx = done_tx.clone();
    tokio::spawn(async move {
        let result = match handler {
            Some(h) => {
                // A panicking handler is an error like any other.
                match tokio::spawn(h.run(ctx)).await {
                    Ok(r) => r.map_err(|e| format!("{e:#}")),
                    Err(e) => Err(format!("job handler panicked: {e}")),
                }
            }
            None => Err(format!(
                "no handler for job type {:?} on this worker",
                ctx.job.job_type
            )),
        };
        let _ = done_tx.send((id, attempt, result));
    });
}

async fn complete_loop(
    cfg: Arc<RunnerConfig>,
    pool: PgPool,
    inflight: Arc<Mutex<HashMap<i64, Inflight>>>,
    slot_freed: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<(i64, i32, Result<(), String>)>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let ok: Vec<i64> = batch
            .iter()
            .filter(|(_, _, r)| r.is_ok())
            .map(|(id, _, _)| *id)
            .collect();
        let releasing: Vec<i64> = {
            let map = inflight.lock().unwrap();
            batch
                .iter()
                .filter(|(id, _, r)| r.is_err() && map.get(id).is_some_and(|f| f.releasing))
                .map(|(id, _, _)| *id)
                .collect()
        };
        let failed: Vec<(i64, String, Duration)> = batch
            .iter()
            .filter(|(id, _, _)| !releasing.contains(id))
            .filter_map(|(id, attempt, r)| {
                r.as_ref()
                    .err()
                    .map(|e| (*id, e.clone(), cfg.backoff(*attempt)))
            })
            .collect();
        let worker = cfg.worker_id.clone();
        // Retry the bookkeeping until it lands: a lost write here would re-run a finished job.
        loop {
            let (w, ok, failed, rel) = (
                worker.clone(),
                ok.clone(),
                failed.clone(),
                releasing.clone(),
            );
            let res = blocking(&pool, move |c| {
                c.transaction(|c| {
                    if !ok.is_empty() {
                        complete(c, &w, &ok)?;
                    }
                    if !rel.is_empty() {
                        release(c, &w, &rel)?;
                    }
                    for (id, err, backoff) in &failed {
                        log::warn!("job {id} failed: {err}");
                        fail(c, &w, *id, err, *backoff)?;
                    }
                    Ok(())
                })
            })
            .await;
            match res {
                Ok(()) => break,
                Err(e) => {
                    log::error!("recording finished jobs failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let mut map = inflight.lock().unwrap();
        for (id, _, _) in &batch {
            map.remove(id);
        }
        drop(map);
        slot_freed.notify_one();
    }
}

/// Renew the leases of the jobs in flight every third of the lease, on a thread of its own:
/// a worker whose runtime is saturated by its jobs (or held to a small CPU share) still
/// renews on time, instead of losing its leases to a busy scheduler and having its jobs
/// started a second time. Ends when `stop` is set.
fn heartbeat_loop(
    cfg: Arc<RunnerConfig>,
    pool: PgPool,
    inflight: Arc<Mutex<HashMap<i64, Inflight>>>,
    spread: Arc<Vec<String>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let every = (cfg.lease / 3).max(Duration::from_millis(100));
    let tick = Duration::from_millis(50).min(every);
    let mut next = std::time::Instant::now() + every;
    while !stop.load(Ordering::Relaxed) {
        if std::time::Instant::now() < next {
            std::thread::sleep(tick);
            continue;
        }
        next = std::time::Instant::now() + every;
        let ids: Vec<i64> = inflight.lock().unwrap().keys().copied().collect();
        let res = pool.get().map_err(|e| e.to_string()).and_then(|mut c| {
            diesel::sql_query("UPDATE workers SET last_seen_at = now() WHERE worker_id = $1")
                .bind::<Text, _>(&cfg.worker_id)
                .execute(&mut c)
                .map_err(|e| e.to_string())?;
            if ids.is_empty() {
                return Ok(vec![]);
            }
            heartbeat(&mut c, &cfg.worker_id, &ids, cfg.lease).map_err(|e| e.to_string())
        });
        match res {
            Ok(held) => {
                let map = inflight.lock().unwrap();
                for id in ids.iter().filter(|id| !held.contains(id)) {
                    if let Some(f) = map.get(id) {
                        log::error!("lost the lease of job {id}; stopping it");
                        let _ = f.lost.send(true);
                    }
                }
            }
            Err(e) => log::warn!("heartbeat failed: {e}"),
        }
        for t in spread.iter() {
            let s = pool.get().map_err(|e| e.to_string()).and_then(|mut c| {
                spread_of(&mut c, std::slice::from_ref(t), cfg.lease).map_err(|e| e.to_string())
            });
            match s {
                Ok(s) => yield_excess(&inflight, t, s),
                Err(e) => log::warn!("reading the spread of {t} jobs failed: {e}"),
            }
        }
    }
}

/// Give back the spread jobs this worker holds beyond its share (the newest first), so a
/// worker that joined takes them: each is stopped and released, not counted as a failure.
fn yield_excess(inflight: &Mutex<HashMap<i64, Inflight>>, job_type: &str, s: Spread) {
    let mut map = inflight.lock().unwrap();
    let mut mine: Vec<i64> = map
        .iter()
        .filter(|(_, f)| f.spread && !f.releasing && f.job_type == job_type)
        .map(|(id, _)| *id)
        .collect();
    let excess = mine.len() as i64 - s.share();
    if excess <= 0 {
        return;
    }
    mine.sort_unstable();
    log::info!(
        "holding {} of {} shared {job_type} jobs over {} workers (share {}): giving {excess} back",
        mine.len(),
        s.total,
        s.workers,
        s.share()
    );
    for id in mine.iter().rev().take(excess as usize) {
        if let Some(f) = map.get_mut(id) {
            f.releasing = true;
            let _ = f.lost.send(true);
        }
    }
}

/// Forward `NOTIFY background_jobs` to `wake`; reconnects, and polling covers any gap.
async fn listen(url: String, wake: Arc<Notify>) {
    use futures_util::StreamExt;
    loop {
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut stream =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(msg) = stream.next().await {
                        match msg {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                let _ = tx.send(());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                log::warn!("job listener connection: {e}");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client
                    .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
                    .await
                {
                    log::warn!("LISTEN failed: {e}");
                } else {
                    // Jobs may have arrived before LISTEN took effect.
                    wake.notify_one();
                    while rx.recv().await.is_some() {
                        wake.notify_one();
                    }
                }
                driver.abort();
            }
            Err(e) => log::warn!("job listener cannot connect: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Register a worker row (health reporting) and mark it stopped on shutdown.
pub fn register_worker(
    conn: &mut PgConnection,
    worker_id: &str,
    hostname: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO workers (worker_id, hostname, pid) VALUES ($1, $2, $3) \
         ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = now(), stopped_at = NULL",
    )
    .bind::<Text, _>(worker_id)
    .bind::<Text, _>(hostname)
    .bind::<Integer, _>(std::process::id() as i32)
    .execute(conn)
    .map(|_| ())
}

pub fn mark_worker_stopped(conn: &mut PgConnection, worker_id: &str) -> QueryResult<()> {
    diesel::sql_query("UPDATE workers SET stopped_at = now() WHERE worker_id = $1")
        .bind::<Text, _>(worker_id)
        .execute(conn)
        .map(|_| ())
}

/// A worker as the overview shows it: alive when not stopped and seen within `lease`; `jobs`
/// counts the jobs it holds, by type.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct WorkerView {
    #[diesel(sql_type = Text)]
    pub worker_id: String,
    #[diesel(sql_type = Text)]
    pub hostname: String,
    #[diesel(sql_type = Integer)]
    pub pid: i32,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub started_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub alive: bool,
    #[diesel(sql_type = Jsonb)]
    pub jobs: Value,
}

/// Live workers and those stopped or silent within the last hour, oldest first.
pub fn workers_view(conn: &mut PgConnection, lease: Duration) -> QueryResult<Vec<WorkerView>> {
    diesel::sql_query(
        "SELECT w.worker_id, w.hostname, w.pid, w.started_at, w.last_seen_at, \
                (w.stopped_at IS NULL AND w.last_seen_at > now() - $1 * interval '1 millisecond') AS alive, \
                coalesce((SELECT jsonb_object_agg(job_type, n) FROM \
                   (SELECT job_type, count(*) AS n FROM background_jobs \
                     WHERE locked_by = w.worker_id AND status = 'running' GROUP BY job_type) j), \
                  '{}'::jsonb) AS jobs \
           FROM workers w \
          WHERE coalesce(w.stopped_at, w.last_seen_at) > now() - interval '1 hour' \
          ORDER BY w.started_at",
    )
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .load(conn)
}

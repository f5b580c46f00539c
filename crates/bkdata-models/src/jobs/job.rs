//! What a job is to the runner: a [`Job`] (name, payload, attempts, code) or any
//! [`JobHandler`], and the context each run gets.
use super::{enqueue, enqueue_unique, ClaimedJob, NewJob};
use diesel::pg::PgConnection;
use diesel::QueryResult;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::watch;

/// What a handler gets: the job and a signal that turns true if this worker lost the lease
/// (another worker may then run the job; the handler should stop).
#[derive(Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    pub worker_id: String,
    pub lease_lost: watch::Receiver<bool>,
}

/// What a job's run answers. An error is retried with backoff; its whole cause chain
/// (`{:#}`) is kept in the job's `last_error`.
pub type JobResult = anyhow::Result<()>;

/// A job type's code, as the runner calls it. Write a [`Job`] instead: it names the type and
/// reads a typed payload; this is what the runner keeps of it (closures make handlers too).
/// `abandoned` is called once when a job is given up after its worker died on the last
/// attempt.
pub trait JobHandler: Send + Sync + 'static {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, JobResult>;
    fn abandoned(&self, _job: ClaimedJob) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl<F, Fut> JobHandler for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = JobResult> + Send + 'static,
{
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self(ctx))
    }
}

/// A job type: its name in `background_jobs.job_type`, its payload (stored as JSON in
/// `data`), how often it is tried, and its code. `enqueue` and `enqueue_unique` queue one;
/// [`Runner::job`] runs them.
pub trait Job: Send + Sync + 'static {
    const NAME: &'static str;
    /// Attempts before the job is `failed` (long-running jobs that must come back after
    /// any fault use a large number).
    const MAX_ATTEMPTS: i32 = 5;
    /// A long-running job the workers share evenly (a partition of a clean, a shipper, a
    /// node): a worker takes no more than its share of them, and one holding more (a worker
    /// joined) gives the rest back for the others to take.
    const SPREAD: bool = false;
    type Payload: serde::Serialize + serde::de::DeserializeOwned + Send + 'static;

    fn run(&self, payload: Self::Payload, ctx: JobContext) -> BoxFuture<'static, JobResult>;

    fn abandoned(&self, _payload: Self::Payload, _job: ClaimedJob) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn new_job(payload: &Self::Payload) -> NewJob
    where
        Self: Sized,
    {
        // A payload is plain data (strings, numbers): it always serialises.
        let data = serde_json::to_value(payload).unwrap_or(Value::Null);
        NewJob::new(Self::NAME, data).max_attempts(Self::MAX_ATTEMPTS)
    }

    /// Queue one, inside the caller's transaction when there is one.
    fn enqueue(conn: &mut PgConnection, payload: &Self::Payload) -> QueryResult<i64>
    where
        Self: Sized,
    {
        enqueue(conn, &Self::new_job(payload))
    }

    /// Queue one unless one with the same payload is queued or running.
    fn enqueue_unique(conn: &mut PgConnection, payload: &Self::Payload) -> QueryResult<bool>
    where
        Self: Sized,
    {
        enqueue_unique(conn, &Self::new_job(payload))
    }
}

/// The payload of a job that needs none (stored as `{}`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct NoPayload {}

/// A [`Job`] as the runner calls it: the payload parsed first.
pub(super) struct Typed<J>(pub(super) J);

impl<J: Job> JobHandler for Typed<J> {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, JobResult> {
        match serde_json::from_value::<J::Payload>(ctx.job.data.clone()) {
            Ok(p) => self.0.run(p, ctx),
            Err(e) => {
                let (id, data) = (ctx.job.id, ctx.job.data.to_string());
                Box::pin(async move {
                    Err(anyhow::anyhow!(
                        "job {id} ({}): its payload {data} does not parse: {e}",
                        J::NAME
                    ))
                })
            }
        }
    }

    fn abandoned(&self, job: ClaimedJob) -> BoxFuture<'static, ()> {
        match serde_json::from_value::<J::Payload>(job.data.clone()) {
            Ok(p) => self.0.abandoned(p, job),
            Err(_) => Box::pin(async {}),
        }
    }
}

//! `storage_expire`, the periodic expiry job: it drops rows (or indices) older than each data
//! storage's `expires`. Each worker queues a pass on a timer; one runs at a time.
use crate::physical;
use bkdata_models::databus::{DataStorage, StorageCluster};
use bkdata_models::db::call as db;
use bkdata_models::jobs::{BoxFuture, Job, JobContext, JobResult, NoPayload};
use bkdata_models::schema::data_storages as ds;
use bkdata_models::PgPool;
use diesel::prelude::*;

/// The expiry pass over every data storage with an `expires`.
#[derive(Clone)]
pub struct ExpireJob {
    pool: PgPool,
}

impl ExpireJob {
    pub fn new(pool: PgPool) -> Self {
        ExpireJob { pool }
    }

    async fn run_expire(self) -> anyhow::Result<()> {
        let list: Vec<(DataStorage, StorageCluster)> = db(&self.pool, |conn| {
            ds::table
                .inner_join(bkdata_models::schema::storage_clusters::table)
                .filter(ds::expire_days.is_not_null())
                .filter(ds::storage_type.ne_all(["queue", "redis", "alert"]))
                .select((DataStorage::as_select(), StorageCluster::as_select()))
                .load(conn)
        })
        .await?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut failures = Vec::new();
        for (d, c) in list {
            let r = async {
                let mut sink = physical::sink_for(&d, &c, &physical::spec_of(&d), 0).await?;
                sink.expire(now).await
            }
            .await;
            match r {
                Ok(n) if n > 0 => log::info!(
                    "expired {n} rows of {} in {} ({})",
                    d.result_table_id,
                    d.physical_table_name,
                    d.storage_type
                ),
                Ok(_) => {}
                Err(e) => failures.push(format!("{} {}: {e}", d.result_table_id, d.storage_type)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(failures.join("; ")))
        }
    }
}

impl Job for ExpireJob {
    const NAME: &'static str = "storage_expire";
    /// The next timer queues the next pass.
    const MAX_ATTEMPTS: i32 = 1;
    type Payload = NoPayload;

    fn run(&self, _: NoPayload, _ctx: JobContext) -> BoxFuture<'static, JobResult> {
        Box::pin(self.clone().run_expire())
    }
}

/// Queue an expiry pass unless one is queued or running (called by each worker on a timer).
pub fn schedule_expire(conn: &mut PgConnection) -> QueryResult<bool> {
    ExpireJob::enqueue_unique(conn, &NoPayload {})
}

//! The Redis side of the alert path: alert ids' sequence, the content cache and snapshots
//! (wire reference §5.4), with the database as the fallback.
use super::*;

/// Where alert ids' sequence and the cache live.
pub struct Cache {
    client: Option<redis::Client>,
    conn: Option<redis::Connection>,
    /// `{APP_CODE}.{ee|ce}[ENV]`: bk-monitor's key prefix.
    pub prefix: String,
    /// The highest seq Postgres has seen: a Redis counter below it (Redis restarted, it keeps
    /// nothing on disk) is raised before use, so ids never repeat.
    floor: Option<i64>,
    /// Queue the documents of what a pass writes for Elasticsearch (an `es` cluster is
    /// configured for alerts).
    pub es_outbox: bool,
}

pub const CONTENT_TTL: u64 = 2 * 3600;
pub const SNAPSHOT_TTL: u64 = 30 * 60;

impl Cache {
    pub fn new(redis_url: Option<&str>, prefix: &str) -> Self {
        Cache {
            client: redis_url.and_then(|u| redis::Client::open(u).ok()),
            conn: None,
            prefix: prefix.to_string(),
            floor: None,
            es_outbox: false,
        }
    }

    fn conn(&mut self) -> Option<&mut redis::Connection> {
        if self.conn.is_none() {
            let c = self
                .client
                .as_ref()?
                .get_connection_with_timeout(std::time::Duration::from_millis(500))
                .ok()?;
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = c.set_write_timeout(Some(std::time::Duration::from_secs(2)));
            self.conn = Some(c);
        }
        self.conn.as_mut()
    }

    fn failed(&mut self, what: &str, e: redis::RedisError) {
        log::warn!("redis {what} failed: {e}; alerts go on from Postgres");
        self.conn = None;
        self.floor = None;
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }

    pub fn content_key(&self, a: &Alert) -> String {
        self.key(&format!(
            "alert.builder.{}.{}.content",
            a.strategy_id.unwrap_or(0),
            a.dedupe_md5
        ))
    }

    pub fn snapshot_key(&self, a: &Alert) -> String {
        self.key(&format!(
            "alert.builder.snapshot.{}.{}",
            a.strategy_id.unwrap_or(0),
            a.id
        ))
    }

    /// `n` sequence numbers: from Redis (`INCRBY alert.uuid_sequence`), kept above what
    /// Postgres has; from Postgres alone when Redis is down.
    pub(super) fn seqs(&mut self, conn: &mut PgConnection, n: i64) -> Result<i64, AlertError> {
        if self.floor.is_none() {
            let max: Option<i64> = al::table.select(diesel::dsl::max(al::seq)).first(conn)?;
            self.floor = Some(max.unwrap_or(0));
        }
        let floor = self.floor.unwrap_or(0);
        let key = self.key("alert.uuid_sequence");
        let got: Option<Result<i64, redis::RedisError>> = self
            .conn()
            .map(|c| redis::cmd("INCRBY").arg(&key).arg(n).query(c));
        match got {
            Some(Ok(end)) if end - n >= floor => {
                self.floor = Some(end);
                Ok(end - n + 1)
            }
            Some(Ok(end)) => {
                // Behind Postgres: jump past it.
                let c = self
                    .conn()
                    .ok_or_else(|| AlertError::Other("redis went away".into()))?;
                let end: i64 = redis::cmd("INCRBY")
                    .arg(&key)
                    .arg(floor - end + n)
                    .query(c)
                    .map_err(|e| AlertError::Other(e.to_string()))?;
                self.floor = Some(end);
                Ok(end - n + 1)
            }
            other => {
                if let Some(Err(e)) = other {
                    self.failed("INCRBY", e);
                }
                // Serialise the Postgres fallback between builders; the floor is re-read.
                diesel::sql_query("SELECT pg_advisory_xact_lock(7368713)").execute(conn)?;
                let max: Option<i64> = al::table.select(diesel::dsl::max(al::seq)).first(conn)?;
                let start = max.unwrap_or(0).max(floor) + 1;
                self.floor = Some(start + n - 1);
                Ok(start)
            }
        }
    }

    /// Write the content cache and snapshot of `alerts`; false when Redis is not there.
    pub fn write(&mut self, alerts: &[&Alert]) -> bool {
        if alerts.is_empty() {
            return true;
        }
        let mut p = redis::pipe();
        for a in alerts {
            let body = serde_json::to_string(a).unwrap_or_default();
            p.cmd("SET")
                .arg(self.content_key(a))
                .arg(&body)
                .arg("EX")
                .arg(CONTENT_TTL)
                .ignore();
            p.cmd("SET")
                .arg(self.snapshot_key(a))
                .arg(&body)
                .arg("EX")
                .arg(SNAPSHOT_TTL)
                .ignore();
        }
        let r: Option<Result<(), redis::RedisError>> = self.conn().map(|c| p.query(c));
        match r {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                self.failed("cache write", e);
                false
            }
            None => false,
        }
    }
}

//! Events and alerts in Postgres (the source of truth), the Redis content cache and snapshots
//! (wire reference §5.4), and the builder's batch: pending events are claimed, grouped by
//! `dedupe_md5`, locked per group, applied with `rules::apply` and written in one transaction.
use crate::event::{clean, Event};
use crate::rules::{self, alert_id, Alert, Applied};
use bkdata_models::schema::{alert_events as ev, alert_logs as lg, alerts as al};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl AlertError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AlertError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The answer to a batch of events: what was accepted, what was rejected and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestReport {
    pub accepted: usize,
    /// Accepted events already received before (same id): stored once.
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
    /// The ids of the accepted events, in order.
    pub event_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// Clean and store a batch: each bad event (and each beyond `max`) is rejected with its
/// index; the others are stored in one statement.
pub fn ingest(
    conn: &mut PgConnection,
    app: &str,
    events: &[Value],
    max: usize,
    now: i64,
) -> Result<IngestReport, AlertError> {
    let mut rejected = Vec::new();
    let mut good: Vec<Event> = Vec::new();
    for (i, raw) in events.iter().enumerate() {
        if i >= max {
            rejected.push(Rejected {
                index: i,
                reason: format!("beyond the batch limit of {max} events"),
            });
            continue;
        }
        match clean(raw, now) {
            Ok(e) => good.push(e),
            Err(reason) => rejected.push(Rejected { index: i, reason }),
        }
    }
    let mut inserted = 0;
    for chunk in good.chunks(1000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|e| {
                (
                    ev::id.eq(&e.id),
                    ev::bk_app_code.eq(app),
                    ev::event_id.eq(&e.event_id),
                    ev::dedupe_md5.eq(&e.dedupe_md5),
                    ev::strategy_id.eq(e.strategy_id),
                    ev::alert_name.eq(&e.alert_name),
                    ev::severity.eq(e.severity),
                    ev::status.eq(&e.status),
                    ev::bk_biz_id.eq(&e.bk_biz_id),
                    ev::target.eq(&e.target),
                    ev::time.eq(e.time),
                    ev::doc.eq(Value::Object(e.doc.clone())),
                )
            })
            .collect();
        inserted += diesel::insert_into(ev::table)
            .values(rows)
            .on_conflict(ev::id)
            .do_nothing()
            .execute(conn)?;
    }
    Ok(IngestReport {
        accepted: good.len(),
        duplicates: good.len() - inserted,
        rejected,
        event_ids: good.into_iter().map(|e| e.id).collect(),
    })
}

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
    fn seqs(&mut self, conn: &mut PgConnection, n: i64) -> Result<i64, AlertError> {
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
    pub fn write(&mut self, alerts: &[Alert]) -> bool {
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

/// What a builder pass did.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct BuildStats {
    pub events: usize,
    pub created: usize,
    pub alerts_written: usize,
    pub outcomes: HashMap<String, usize>,
    pub cache_written: bool,
}

/// A lock key per (app, dedupe_md5): its md5's first 8 bytes.
fn lock_key(app: &str, md5: &str) -> i64 {
    let h = crate::dedupe::count_md5(&Value::String(format!("{app}:{md5}")));
    i64::from_str_radix(&h[..15], 16).unwrap_or(0)
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = Text)]
    bk_app_code: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    doc: Value,
}

/// One pass: up to `limit` pending events (oldest first) built into alerts. Concurrent
/// passes take different events (SKIP LOCKED) and serialise per `dedupe_md5` (an advisory
/// lock per group, taken in one order); the partial unique index holds one open alert each.
pub fn build_batch(
    conn: &mut PgConnection,
    cache: &mut Cache,
    limit: i64,
    now: i64,
) -> Result<BuildStats, AlertError> {
    let mut stats = BuildStats::default();
    let written: Vec<Alert> = conn.transaction(|conn| -> Result<Vec<Alert>, AlertError> {
        let pending: Vec<Pending> = diesel::sql_query(
            "SELECT bk_app_code, doc FROM alert_events WHERE outcome IS NULL ORDER BY seq \
             LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind::<BigInt, _>(limit)
        .load(conn)?;
        stats.events = pending.len();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        // Groups in arrival order of their first event.
        let mut order: Vec<(String, String)> = Vec::new();
        let mut groups: HashMap<(String, String), Vec<Event>> = HashMap::new();
        for p in pending {
            let e = event_of(p.doc)?;
            let k = (p.bk_app_code, e.dedupe_md5.clone());
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push(e);
        }
        let mut locks: Vec<i64> = order.iter().map(|(a, m)| lock_key(a, m)).collect();
        locks.sort_unstable();
        locks.dedup();
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k ORDER BY k",
        )
        .bind::<Array<BigInt>, _>(&locks)
        .execute(conn)?;
        let apps: Vec<String> = order.iter().map(|k| k.0.clone()).collect();
        let md5s: Vec<String> = order.iter().map(|k| k.1.clone()).collect();
        // The latest alert of each group (open or not): the open one, and the last end time.
        let latest: Vec<Alert> = al::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "(bk_app_code, dedupe_md5) IN (SELECT * FROM unnest(",
                )
                .bind::<Array<Text>, _>(&apps)
                .sql("::text[], ")
                .bind::<Array<Text>, _>(&md5s)
                .sql("::text[]))"),
            )
            .distinct_on((al::bk_app_code, al::dedupe_md5))
            .order((
                al::bk_app_code,
                al::dedupe_md5,
                al::create_time.desc(),
                al::seq.desc(),
            ))
            .select(Alert::as_select())
            .load(conn)?;
        let mut latest: HashMap<(String, String), Alert> = latest
            .into_iter()
            .map(|a| ((a.bk_app_code.clone(), a.dedupe_md5.clone()), a))
            .collect();
        // Sequence numbers for new alerts, fetched once for the batch (more when escalations
        // need them).
        let need = order.len() as i64;
        let mut next = cache.seqs(conn, need)?;
        let mut left = need;
        let mut applied: Vec<Applied> = Vec::with_capacity(order.len());
        for k in &order {
            let (open, last_end) = match latest.remove(k) {
                Some(a) if a.status == crate::event::ABNORMAL => (Some(a), None),
                Some(a) => (None, a.end_time),
                None => (None, None),
            };
            let mut extra: Vec<i64> = Vec::new();
            let mut new_id = |ts: i64| {
                let seq = if left > 0 {
                    left -= 1;
                    next += 1;
                    next - 1
                } else {
                    extra.push(ts);
                    -(extra.len() as i64)
                };
                (alert_id(ts, seq), seq)
            };
            let mut r = rules::apply(&k.0, open, last_end, &groups[k], now, &mut new_id);
            if !extra.is_empty() {
                // Rare: more alerts than groups (severity escalations); number them now.
                let start = cache.seqs(conn, extra.len() as i64)?;
                renumber(&mut r, start);
            }
            applied.push(r);
        }
        // Write: alerts (ended ones before new ones), then outcomes and logs.
        let alerts: Vec<Alert> = applied
            .iter()
            .flat_map(|r| r.alerts.iter().cloned())
            .collect();
        for chunk in alerts.chunks(500) {
            use diesel::upsert::excluded;
            diesel::insert_into(al::table)
                .values(chunk)
                .on_conflict(al::id)
                .do_update()
                .set((
                    al::status.eq(excluded(al::status)),
                    al::severity.eq(excluded(al::severity)),
                    al::event_severity.eq(excluded(al::event_severity)),
                    al::begin_time.eq(excluded(al::begin_time)),
                    al::latest_time.eq(excluded(al::latest_time)),
                    al::first_anomaly_time.eq(excluded(al::first_anomaly_time)),
                    al::end_time.eq(excluded(al::end_time)),
                    al::update_time.eq(excluded(al::update_time)),
                    al::next_status.eq(excluded(al::next_status)),
                    al::next_status_time.eq(excluded(al::next_status_time)),
                    al::event.eq(excluded(al::event)),
                    al::event_count.eq(excluded(al::event_count)),
                ))
                .execute(conn)?;
        }
        let (mut ids, mut outs, mut alert_ids) = (Vec::new(), Vec::new(), Vec::new());
        for r in &applied {
            stats.created += r.created.len();
            for (id, o, a) in &r.outcomes {
                ids.push(id.clone());
                outs.push(o.as_str().to_string());
                alert_ids.push(a.clone());
                *stats.outcomes.entry(o.as_str().to_string()).or_default() += 1;
            }
        }
        diesel::sql_query(
            "UPDATE alert_events e SET outcome = v.o, alert_id = v.a \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, o, a) WHERE e.id = v.id",
        )
        .bind::<Array<Text>, _>(&ids)
        .bind::<Array<Text>, _>(&outs)
        .bind::<Array<Nullable<Text>>, _>(&alert_ids)
        .execute(conn)?;
        let logs: Vec<_> = applied
            .iter()
            .flat_map(|r| r.logs.iter())
            .map(|l| {
                (
                    lg::alert_id.eq(l.alert_id.clone()),
                    lg::op_type.eq(l.op_type),
                    lg::description.eq(l.description.clone()),
                    lg::event_id.eq(l.event_id.clone()),
                    lg::time.eq(l.time),
                )
            })
            .collect();
        for chunk in logs.chunks(1000) {
            diesel::insert_into(lg::table)
                .values(chunk.to_vec())
                .execute(conn)?;
        }
        if cache.es_outbox {
            use bkdata_models::schema::alert_es_outbox as ob;
            let docs: Vec<_> = alerts
                .iter()
                .map(|a| (ob::kind.eq("alert"), ob::doc_id.eq(a.id.clone())))
                .chain(
                    ids.iter()
                        .map(|id| (ob::kind.eq("event"), ob::doc_id.eq(id.clone()))),
                )
                .collect();
            for chunk in docs.chunks(2000) {
                diesel::insert_into(ob::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            }
        }
        Ok(alerts)
    })?;
    stats.alerts_written = written.len();
    stats.cache_written = refresh_cache(conn, cache, &written)?;
    Ok(stats)
}

/// Give the placeholder (negative) seqs of `r` real numbers from `start`.
fn renumber(r: &mut Applied, start: i64) {
    let mut map: HashMap<String, String> = HashMap::new();
    for a in r.alerts.iter_mut().filter(|a| a.seq < 0) {
        let seq = start + (-a.seq) - 1;
        let id = alert_id(a.create_time, seq);
        map.insert(a.id.clone(), id.clone());
        a.seq = seq;
        a.id = id;
    }
    for id in r.created.iter_mut() {
        if let Some(n) = map.get(id) {
            *id = n.clone();
        }
    }
    for (_, _, a) in r.outcomes.iter_mut() {
        if let Some(n) = a.as_ref().and_then(|x| map.get(x)) {
            *a = Some(n.clone());
        }
    }
    for l in r.logs.iter_mut() {
        if let Some(n) = map.get(&l.alert_id) {
            l.alert_id = n.clone();
        }
    }
}

fn event_of(doc: Value) -> Result<Event, AlertError> {
    let Value::Object(doc) = doc else {
        return Err(AlertError::Other("a stored event is not an object".into()));
    };
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let i = |k: &str| doc.get(k).and_then(Value::as_i64).unwrap_or(0);
    Ok(Event {
        id: s("id"),
        event_id: s("event_id"),
        strategy_id: doc.get("strategy_id").and_then(Value::as_i64),
        alert_name: s("alert_name"),
        severity: i("severity") as i32,
        status: s("status"),
        target_type: s("target_type"),
        target: doc
            .get("target")
            .map(crate::pystr::scalar)
            .unwrap_or_default(),
        bk_biz_id: doc
            .get("bk_biz_id")
            .map(crate::pystr::scalar)
            .unwrap_or_default(),
        dedupe_keys: doc
            .get("dedupe_keys")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        dedupe_md5: s("dedupe_md5"),
        time: i("time"),
        doc,
    })
}

/// Write the cache of `written` and of alerts left dirty by an earlier Redis outage; clear
/// their flag when it worked.
fn refresh_cache(
    conn: &mut PgConnection,
    cache: &mut Cache,
    written: &[Alert],
) -> Result<bool, AlertError> {
    // Rows are written clean (the cache write usually follows at once); only a failed write
    // marks them, so an alert row is not rewritten just for the flag.
    let dirty: Vec<Alert> = al::table
        .filter(al::cache_dirty.eq(true))
        .limit(5000)
        .select(Alert::as_select())
        .load(conn)?;
    let fresh: Vec<Alert> = written
        .iter()
        .filter(|w| !dirty.iter().any(|d| d.id == w.id))
        .cloned()
        .collect();
    let all: Vec<Alert> = fresh.into_iter().chain(dirty.iter().cloned()).collect();
    if all.is_empty() {
        return Ok(true);
    }
    let ok = cache.write(&all);
    let ids = |l: &[Alert]| l.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    if ok && !dirty.is_empty() {
        diesel::update(al::table.filter(al::id.eq_any(ids(&dirty))))
            .set(al::cache_dirty.eq(false))
            .execute(conn)?;
    } else if !ok {
        diesel::update(al::table.filter(al::id.eq_any(ids(&all))))
            .set(al::cache_dirty.eq(true))
            .execute(conn)?;
    }
    Ok(ok)
}

/// Alerts whose `next_status` is due (no event for an hour) close.
pub fn close_due(
    conn: &mut PgConnection,
    cache: &mut Cache,
    now: i64,
) -> Result<usize, AlertError> {
    let closed: Vec<Alert> = conn.transaction(|conn| -> Result<Vec<Alert>, AlertError> {
        let ids: Vec<String> = diesel::update(
            al::table
                .filter(al::next_status.eq(crate::event::CLOSED))
                .filter(al::next_status_time.le(now))
                .filter(al::status.eq(crate::event::ABNORMAL)),
        )
        .set((
            al::status.eq(crate::event::CLOSED),
            al::end_time.eq(now),
            al::next_status.eq(None::<String>),
            al::next_status_time.eq(None::<i64>),
            al::update_time.eq(now),
            al::cache_dirty.eq(true),
        ))
        .returning(al::id)
        .get_results(conn)?;
        let logs: Vec<_> = ids
            .iter()
            .map(|id| {
                (
                    lg::alert_id.eq(id.clone()),
                    lg::op_type.eq("CLOSE"),
                    lg::description.eq("closed: no event for an hour"),
                    lg::time.eq(now),
                )
            })
            .collect();
        if !logs.is_empty() {
            diesel::insert_into(lg::table).values(logs).execute(conn)?;
        }
        Ok(al::table
            .filter(al::id.eq_any(ids))
            .select(Alert::as_select())
            .load(conn)?)
    })?;
    refresh_cache(conn, cache, &closed)?;
    Ok(closed.len())
}

/// A fault of the platform itself (a clean, shipper or flow failing, or recovering) as an
/// event of the app that owns the component, so its operators see it among their alerts.
/// `target` names the component; one alert per component and kind.
#[allow(clippy::too_many_arguments)]
pub fn platform_event(
    conn: &mut PgConnection,
    app: &str,
    alert_name: &str,
    kind: &str,
    target: &str,
    bk_biz_id: i64,
    severity: i32,
    status: &str,
    message: &str,
) -> Result<(), AlertError> {
    let now = chrono::Utc::now();
    let ev = serde_json::json!({
        "event_id": format!("{kind}:{target}:{status}:{}", now.timestamp_millis()),
        "plugin_id": "bkdata", "alert_name": alert_name, "description": message,
        "severity": severity, "status": status, "target_type": "SERVICE", "target": target,
        "bk_biz_id": bk_biz_id, "category": "component", "time": now.timestamp(),
        "tags": [{"key": "component", "value": kind}],
    });
    ingest(conn, app, &[ev], 1, now.timestamp())?;
    crate::job::schedule(conn)?;
    Ok(())
}

//! Events and alerts in Postgres (the source of truth), the Redis content cache and snapshots
//! (wire reference §5.4), and the builder's batch: pending events are claimed, grouped by
//! `dedupe_md5`, locked per group, applied with `rules::apply` and written in one transaction.
use crate::event::{clean_text, Event};
use crate::rules::{self, alert_id, Alert, Applied};
use bkdata_models::schema::{alert_events as ev, alert_logs as lg, alerts as al};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

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

/// What the platform answers for it (the alert store keeps its own kinds: a unique
/// violation of an event id is retried, not answered).
impl From<AlertError> for bkdata_models::error::PlatformError {
    fn from(e: AlertError) -> Self {
        use bkdata_models::error::PlatformError as P;
        match e {
            AlertError::Validation { field, message } => P::field(&field, message),
            AlertError::NotFound(m) => P::NotFound(m),
            AlertError::Db(e) => P::from(e),
            AlertError::Other(m) => P::Internal(m),
        }
    }
}

impl AlertError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AlertError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

mod cache;
mod copy;
mod ingest;
pub use cache::*;
use copy::CopyRows;
pub use ingest::*;

/// What a builder pass did.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct BuildStats {
    pub events: usize,
    /// Events already stored (a redelivery, or a resend that raced its first copy): skipped.
    pub duplicates: usize,
    pub created: usize,
    pub alerts_written: usize,
    pub outcomes: HashMap<String, usize>,
    pub cache_written: bool,
}

/// Builders take turns per bucket of `dedupe_md5`s (the digest's first byte): a pass holds
/// at most 256 advisory locks however many alerts it touches. One lock per alert ran out of
/// Postgres' shared lock table (`max_locks_per_transaction` × connections: 6,400 by default)
/// when a pass touched more alerts than that. A bucket's events are built in one lane
/// (`job::lane_of`), so lanes never wait for each other.
pub fn bucket_of(md5: &str) -> usize {
    md5.get(..2)
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// A bucket's advisory lock (above the alert id sequence's `7368713`).
fn lock_key(md5: &str) -> i64 {
    0x616c_6572_7400 + bucket_of(md5) as i64
}

#[derive(QueryableByName)]
struct Queued {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    bk_app_code: String,
    #[diesel(sql_type = Text)]
    doc: String,
}

/// One pass over the inbox: up to `limit` queued events (oldest first) built into alerts and
/// taken out of it in the same transaction. Concurrent passes take different events (SKIP
/// LOCKED).
pub fn build_batch(
    conn: &mut PgConnection,
    cache: &mut Cache,
    limit: i64,
    now: i64,
) -> Result<BuildStats, AlertError> {
    let mut stats = BuildStats::default();
    let written = conn.transaction(|conn| -> Result<Vec<Alert>, AlertError> {
        let mut queued: Vec<Queued> = diesel::sql_query(
            "DELETE FROM alert_inbox WHERE seq IN (SELECT seq FROM alert_inbox ORDER BY seq \
             LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING seq, bk_app_code, doc::text AS doc",
        )
        .bind::<BigInt, _>(limit)
        .load(conn)?;
        queued.sort_by_key(|q| q.seq);
        stats.events = queued.len();
        let incoming = queued
            .into_iter()
            .map(|q| Incoming::from_doc(&q.bk_app_code, q.doc))
            .collect::<Result<Vec<_>, _>>()?;
        apply_events(conn, cache, incoming, now, &mut stats)
    })?;
    finish(conn, cache, written, stats)
}

/// Build `incoming` (arrival order) into alerts in one transaction: the bus path.
pub fn build(
    conn: &mut PgConnection,
    cache: &mut Cache,
    incoming: Vec<Incoming>,
    now: i64,
) -> Result<BuildStats, AlertError> {
    let mut stats = BuildStats {
        events: incoming.len(),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let written = conn.transaction(|conn| apply_events(conn, cache, incoming, now, &mut stats))?;
    let committed = t.elapsed();
    let r = finish(conn, cache, written, stats);
    log::debug!(
        "pass: committed after {committed:?}, cache written after {:?}",
        t.elapsed()
    );
    r
}

fn finish(
    conn: &mut PgConnection,
    cache: &mut Cache,
    written: Vec<Alert>,
    mut stats: BuildStats,
) -> Result<BuildStats, AlertError> {
    stats.alerts_written = written.len();
    stats.cache_written = refresh_cache(conn, cache, &written)?;
    Ok(stats)
}

/// Inside the caller's transaction: each event is written once, with its outcome. Events
/// already stored are expected to be rare (a bus redelivery after a commit whose ack was
/// lost), so they are found by the primary key refusing them: the attempt (a savepoint) is
/// rolled back and made again without them.
fn apply_events(
    conn: &mut PgConnection,
    cache: &mut Cache,
    mut incoming: Vec<Incoming>,
    now: i64,
    stats: &mut BuildStats,
) -> Result<Vec<Alert>, AlertError> {
    let mut seen = HashSet::new();
    incoming.retain(|i| seen.insert(i.event.id.clone()));
    if incoming.is_empty() {
        stats.duplicates = stats.events;
        return Ok(Vec::new());
    }
    let first = conn.transaction(|c| write_events(c, cache, &incoming, now, stats));
    let written = match first {
        Err(AlertError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ))) if info.constraint_name() == Some("alert_events_pkey") => {
            let keys: Vec<(i64, &str)> = incoming
                .iter()
                .map(|i| (i.event.time, i.event.id.as_str()))
                .collect();
            let stored = stored_ids(conn, &keys)?;
            incoming.retain(|i| !stored.contains(&i.event.id));
            *stats = BuildStats {
                events: stats.events,
                ..Default::default()
            };
            conn.transaction(|c| write_events(c, cache, &incoming, now, stats))?
        }
        other => other?,
    };
    stats.duplicates = stats.events - incoming.len();
    Ok(written)
}

/// Group, lock, load, apply the rules and write: alerts, events with their outcomes, logs,
/// and the Elasticsearch outbox. Answers the alerts written.
fn write_events(
    conn: &mut PgConnection,
    cache: &mut Cache,
    incoming: &[Incoming],
    now: i64,
    stats: &mut BuildStats,
) -> Result<Vec<Alert>, AlertError> {
    if incoming.is_empty() {
        return Ok(Vec::new());
    }
    let t = std::time::Instant::now();
    let mut marks: Vec<(&str, std::time::Duration)> = Vec::new();
    // Groups in arrival order of their first event.
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut groups: HashMap<(&str, &str), Vec<&Event>> = HashMap::new();
    for i in incoming {
        let k = (i.app.as_str(), i.event.dedupe_md5.as_str());
        let g = groups.entry(k).or_insert_with(|| {
            order.push(k);
            Vec::new()
        });
        g.push(&i.event);
    }
    let mut locks: Vec<i64> = order.iter().map(|(_, m)| lock_key(m)).collect();
    locks.sort_unstable();
    locks.dedup();
    diesel::sql_query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k ORDER BY k")
        .bind::<Array<BigInt>, _>(&locks)
        .execute(conn)?;
    marks.push(("locked", t.elapsed()));
    let apps: Vec<&str> = order.iter().map(|k| k.0).collect();
    let md5s: Vec<&str> = order.iter().map(|k| k.1).collect();
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
    marks.push(("loaded", t.elapsed()));
    // Sequence numbers for new alerts, fetched once for the batch (more when escalations
    // need them).
    let need = order.len() as i64;
    let mut next = cache.seqs(conn, need)?;
    let mut left = need;
    let mut applied: Vec<Applied> = Vec::with_capacity(order.len());
    for k in &order {
        let (open, last_end) = match latest.remove(&(k.0.to_string(), k.1.to_string())) {
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
        let mut r = rules::apply(k.0, open, last_end, &groups[k], now, &mut new_id);
        if !extra.is_empty() {
            // Rare: more alerts than groups (severity escalations); number them now.
            let start = cache.seqs(conn, extra.len() as i64)?;
            renumber(&mut r, start);
        }
        applied.push(r);
    }
    marks.push(("applied", t.elapsed()));
    // Write: alerts (ended ones before new ones), then events with outcomes, and logs.
    let alerts: Vec<Alert> = applied
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.alerts))
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
    marks.push(("alerts", t.elapsed()));
    let mut outcome: HashMap<&str, (&'static str, Option<&str>)> =
        HashMap::with_capacity(incoming.len());
    for r in &applied {
        stats.created += r.created.len();
        for (id, o, a) in &r.outcomes {
            outcome.insert(id.as_str(), (o.as_str(), a.as_deref()));
            *stats.outcomes.entry(o.as_str().to_string()).or_default() += 1;
        }
    }
    insert_events(conn, incoming, &outcome)?;
    marks.push(("events", t.elapsed()));
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
            .map(|a| {
                (
                    ob::kind.eq("alert"),
                    ob::doc_id.eq(a.id.clone()),
                    ob::time.eq(None::<i64>),
                )
            })
            .chain(incoming.iter().map(|i| {
                (
                    ob::kind.eq("event"),
                    ob::doc_id.eq(i.event.id.clone()),
                    ob::time.eq(Some(i.event.time)),
                )
            }))
            .collect();
        for chunk in docs.chunks(2000) {
            diesel::insert_into(ob::table)
                .values(chunk.to_vec())
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
    }
    marks.push(("logs", t.elapsed()));
    log::debug!("pass of {} events: {marks:?}", incoming.len());
    Ok(alerts)
}

/// The events, in arrival order, each with its outcome: one binary `COPY` per chunk (no SQL
/// parsing, no arrays built and unnested, numbers sent as numbers), so `seq` follows arrival.
/// A stored id fails the `COPY` with the primary key's unique violation, as an insert would.
fn insert_events(
    conn: &mut PgConnection,
    incoming: &[Incoming],
    outcome: &HashMap<&str, (&'static str, Option<&str>)>,
) -> Result<(), AlertError> {
    for chunk in incoming.chunks(10_000) {
        let mut rows = CopyRows::new(chunk.iter().map(|i| i.doc().len() + 256).sum());
        for i in chunk {
            let e = &i.event;
            let out = outcome.get(e.id.as_str());
            rows.row(14);
            rows.text(Some(&e.id));
            rows.text(Some(&i.app));
            rows.text(Some(&e.event_id));
            rows.text(Some(&e.dedupe_md5));
            rows.int8(e.strategy_id);
            rows.text(Some(&e.alert_name));
            rows.int4(e.severity);
            rows.text(Some(&e.status));
            rows.text(Some(&e.bk_biz_id));
            rows.text(Some(&e.target));
            rows.int8(Some(e.time));
            rows.text(Some(i.doc()));
            rows.text(out.and_then(|o| o.1));
            rows.text(out.map(|o| o.0));
        }
        let data = rows.finish();
        diesel::copy_from(ev::table)
            .from_raw_data(
                (
                    ev::id,
                    ev::bk_app_code,
                    ev::event_id,
                    ev::dedupe_md5,
                    ev::strategy_id,
                    ev::alert_name,
                    ev::severity,
                    ev::status,
                    ev::bk_biz_id,
                    ev::target,
                    ev::time,
                    ev::doc,
                    ev::alert_id,
                    ev::outcome,
                ),
                |w| {
                    w.write_all(&data)
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                },
            )
            .with_format(diesel::pg::CopyFormat::Binary)
            .execute(conn)?;
    }
    Ok(())
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

/// The fields of a queued (cleaned) document the builder reads. Each is taken whatever its
/// JSON type: a string field of another type reads as "", a number as 0 (`time`) or none.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct QueuedFields {
    id: Value,
    event_id: Value,
    strategy_id: Value,
    alert_name: Value,
    severity: Value,
    status: Value,
    target_type: Value,
    /// Absent: ""; present (even null): as Python prints it.
    #[serde(deserialize_with = "present")]
    target: Option<Value>,
    #[serde(deserialize_with = "present")]
    bk_biz_id: Option<Value>,
    dedupe_keys: Value,
    dedupe_md5: Value,
    time: Value,
    anomaly_time: Value,
}

/// A field that is there, null included (`Option<Value>` alone reads null as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

impl QueuedFields {
    fn event(self, doc: String) -> Event {
        let s = |v: Value| match v {
            Value::String(s) => s,
            _ => String::new(),
        };
        let scalar = |v: Option<Value>| v.as_ref().map(crate::pystr::scalar).unwrap_or_default();
        let time = self.time.as_i64().unwrap_or(0);
        Event {
            id: s(self.id),
            event_id: s(self.event_id),
            strategy_id: self.strategy_id.as_i64(),
            alert_name: s(self.alert_name),
            severity: self.severity.as_i64().unwrap_or(0) as i32,
            status: s(self.status),
            target_type: s(self.target_type),
            target: scalar(self.target),
            bk_biz_id: scalar(self.bk_biz_id),
            dedupe_keys: serde_json::from_value(self.dedupe_keys).unwrap_or_default(),
            dedupe_md5: s(self.dedupe_md5),
            time,
            anomaly_time: self.anomaly_time.as_i64().unwrap_or(time),
            doc,
        }
    }
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
    let dirty_ids: HashSet<&str> = dirty.iter().map(|d| d.id.as_str()).collect();
    let all: Vec<&Alert> = written
        .iter()
        .filter(|w| !dirty_ids.contains(w.id.as_str()))
        .chain(&dirty)
        .collect();
    if all.is_empty() {
        return Ok(true);
    }
    let ok = cache.write(&all);
    if ok && !dirty.is_empty() {
        diesel::update(al::table.filter(al::id.eq_any(dirty_ids)))
            .set(al::cache_dirty.eq(false))
            .execute(conn)?;
    } else if !ok {
        let ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
        diesel::update(al::table.filter(al::id.eq_any(ids)))
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
                // A literal, so the planner can use the open alerts' partial index.
                .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "alerts.status = 'ABNORMAL'",
                )),
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ingest_body_is_split_into_its_events() {
        let two = [r#"{"a": 1}"#, r#"{"b": [2, {"c": 3}]}"#];
        for body in [
            format!("[{}, {}]", two[0], two[1]),
            format!(
                r#" {{"bk_username": "u", "events": [{}, {}]}}"#,
                two[0], two[1]
            ),
        ] {
            assert_eq!(batch_of(body.as_bytes()).unwrap(), two, "{body}");
        }
        // Events that are not objects are split too: the clean rejects each with its index.
        assert_eq!(batch_of(b"[1, \"x\"]").unwrap(), ["1", "\"x\""]);
        for (body, why) in [
            (&b"{\"events\": \"x\"}"[..], "events is required"),
            (b"{\"other\": []}", "events is required"),
            (b"{\"events\": [}", "not valid JSON"),
            (b"[{\"a\": 1}", "not valid JSON"),
            (b"\"x\"", "the body must be"),
            (b"", "not valid JSON"),
        ] {
            let e = batch_of(body).unwrap_err().to_string();
            assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(body));
        }
    }
}

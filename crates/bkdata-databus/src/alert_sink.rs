//! The data storage type `alert`: a result table's rows shipped into the alert path as
//! events. Columns named like event fields (`alert_name`, `severity`, `status`, `target`,
//! `target_type`, `description`, `time` in seconds) are read as such; `storage_config` may set
//! `alert_name`, `severity`, `target_type`, `target_field` (the column naming the target) and
//! `dedupe_keys`; every other field becomes a tag. Event ids come from the row's stream
//! position, so a replay stores each row's event once.
use bkdata_models::databus::DataStorage;
use bkdata_models::PgPool;
use bkdata_storage::{DeadLetter, Row, TableSpec, WriteReport};
use serde_json::{json, Map, Value};

/// What an `alert` binding's physical name is (there is no table).
pub use crate::physical::ALERT_TABLE as PHYSICAL;

const EVENT_FIELDS: [&str; 7] = [
    "alert_name",
    "severity",
    "status",
    "target",
    "target_type",
    "description",
    "time",
];

pub struct AlertSink {
    pool: PgPool,
    app: String,
    rt: String,
    biz: i64,
    config: Value,
    columns: Vec<String>,
    partition: u32,
}

impl AlertSink {
    pub fn new(pool: PgPool, d: &DataStorage, spec: &TableSpec, partition: u32) -> Self {
        AlertSink {
            pool,
            partition,
            app: d.bk_app_code.clone(),
            rt: d.result_table_id.clone(),
            biz: d.bk_biz_id,
            config: d.storage_config.clone(),
            columns: spec.columns.iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// One row as an event.
    pub fn event(&self, r: &Row) -> Value {
        let mut fields: Map<String, Value> = Map::new();
        for (name, v) in self.columns.iter().zip(&r.values) {
            fields.insert(name.clone(), v.clone());
        }
        let cfg = |k: &str| self.config.get(k).cloned().filter(|v| !v.is_null());
        let target_field = cfg("target_field")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "target".into());
        let time = fields
            .get("time")
            .cloned()
            .filter(|v| !v.is_null())
            .or_else(|| {
                fields
                    .get(bkdata_storage::TIME_COLUMN)
                    .and_then(Value::as_i64)
                    .map(|ms| json!(ms / 1000))
            });
        let skip = |k: &str| {
            EVENT_FIELDS.contains(&k)
                || k == target_field
                || crate::physical::TIME_COLUMNS.iter().any(|(n, _)| *n == k)
        };
        let tags: Vec<Value> = fields
            .iter()
            .filter(|(k, v)| !skip(k) && !v.is_null())
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let mut e = json!({
            "event_id": match r.part {
                0 => format!("{}:{}:{}", self.rt, r.seq, r.idx),
                k => format!("{}:p{k}:{}:{}", self.rt, r.seq, r.idx),
            },
            "plugin_id": "bkdata",
            "bk_biz_id": self.biz,
            "alert_name": fields.get("alert_name").cloned().or(cfg("alert_name")).unwrap_or(json!(self.rt)),
            "severity": fields.get("severity").cloned().or(cfg("severity")).unwrap_or(json!(3)),
            "target_type": fields.get("target_type").cloned().or(cfg("target_type")).unwrap_or(json!("")),
            "target": fields.get(&target_field).cloned().unwrap_or(Value::Null),
            "tags": tags,
        });
        for k in ["status", "description"] {
            if let Some(v) = fields.get(k).filter(|v| !v.is_null()) {
                e[k] = v.clone();
            }
        }
        if let Some(t) = time {
            e["time"] = t;
        }
        if let Some(keys) = cfg("dedupe_keys") {
            e["dedupe_keys"] = keys;
        }
        e
    }

    /// How far the shipper got in its partition (its counters' position).
    pub async fn committed(&mut self) -> Result<u64, bkdata_storage::StorageError> {
        let (rt, k) = (self.rt.clone(), self.partition);
        let seq: Option<i64> = bkdata_models::db::call(&self.pool, move |c| {
            crate::shipper::counted_to(c, &rt, "alert", k)
        })
        .await
        .map_err(|e| bkdata_storage::StorageError::Connect(format!("{e:#}")))?;
        Ok(seq.unwrap_or(0).max(0) as u64)
    }

    /// Store the rows' events (one transaction); a row whose event does not clean is a dead
    /// letter with the reason.
    pub async fn write(
        &mut self,
        rows: &[Row],
    ) -> Result<WriteReport, bkdata_storage::StorageError> {
        let events: Vec<Value> = rows.iter().map(|r| self.event(r)).collect();
        let (pool, app) = (self.pool.clone(), self.app.clone());
        let now = chrono::Utc::now().timestamp();
        let alerts = crate::alerts::installed().ok_or_else(|| {
            bkdata_storage::StorageError::Write(
                "no alert path in this process (a worker installs it at start)".into(),
            )
        })?;
        let report = bkdata_models::db::call(&pool, move |c| {
            alerts.store(c, &app, &events, now).map(|r| (r, events))
        })
        .await
        .map_err(|e| bkdata_storage::StorageError::Write(format!("{e:#}")))?;
        let (r, events) = report;
        Ok(WriteReport {
            written: r.accepted as u64,
            dead: r
                .rejected
                .iter()
                .map(|(i, reason)| DeadLetter {
                    seq: rows[*i].seq,
                    idx: rows[*i].idx,
                    error: reason.clone(),
                    document: events[*i].to_string(),
                })
                .collect(),
        })
    }
}

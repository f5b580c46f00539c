//! Alert and event documents in Elasticsearch (wire reference §5.4), when an `es` storage
//! cluster is named for alerts (`BKDATA_ALERT_ES_CLUSTER`): alerts are upserted by id
//! (`update` + `doc_as_upsert`) into `write_{YYYYMMDD}_bkfta_alert` (the day of the id's
//! create_ts, UTC), events indexed into `write_{YYYYMMDD}_bkfta_event` (the day of `time`, or
//! of `create_time` when the two are more than a day apart). Each daily index is created with
//! its read alias `{name}_{YYYYMMDD}_read`, 3 shards, 1 replica, 1 s refresh. The builder
//! queues documents in `alert_es_outbox` with its writes; `flush` sends the queue (429s
//! retried by the shared `_bulk` loop), removes what ES took, and keeps what ES refused for
//! good in `alert_es_rejected`. ES down: the queue waits.
use crate::rules::Alert;
use anyhow::{bail, Context};
use bkdata_models::db::call as db;
use bkdata_models::schema::{alert_es_outbox as ob, alert_es_rejected as rj, alerts as al};
use bkdata_models::PgPool;
use bkdata_storage::{EsClient, EsOptions};
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

#[derive(diesel::QueryableByName)]
struct EventDoc {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    doc: String,
}

pub const ALERT_INDEX: &str = "bkfta_alert";
pub const EVENT_INDEX: &str = "bkfta_event";

fn day(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .format("%Y%m%d")
        .to_string()
}

/// The write index of an alert: the day of its id's create_ts.
pub fn alert_index(a: &Alert) -> String {
    let ts =
        a.id.get(..10)
            .and_then(|t| t.parse().ok())
            .unwrap_or(a.create_time);
    format!("write_{}_{ALERT_INDEX}", day(ts))
}

/// The write index of an event: the day of `time`, or of `create_time` when they are more
/// than a day apart.
pub fn event_index(doc: &Value) -> String {
    let time = doc["time"].as_i64().unwrap_or(0);
    let created = doc["create_time"].as_i64().unwrap_or(time);
    let ts = if (created - time).abs() > 86_400 {
        created
    } else {
        time
    };
    format!("write_{}_{EVENT_INDEX}", day(ts))
}

pub struct EsWriter {
    client: EsClient,
    created: HashSet<String>,
}

/// What a flush did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Flushed {
    pub written: usize,
    pub refused: usize,
}

impl EsWriter {
    /// The writer of the `es` cluster `name` (its connection from `storage_clusters`).
    pub fn for_cluster(conn: &mut PgConnection, name: &str) -> anyhow::Result<EsWriter> {
        use bkdata_models::schema::storage_clusters as sc;
        let (ty, connection): (String, Value) = sc::table
            .find(name)
            .select((sc::cluster_type, sc::connection))
            .first(conn)
            .optional()?
            .with_context(|| format!("storage cluster {name} does not exist"))?;
        if ty != "es" {
            bail!("storage cluster {name} is {ty}, not es");
        }
        let map: Map<String, Value> = connection.as_object().cloned().unwrap_or_default();
        Ok(EsWriter {
            client: EsClient::connect(&map, EsOptions::default())?,
            created: HashSet::new(),
        })
    }

    async fn ensure_index(&mut self, index: &str) -> anyhow::Result<()> {
        if self.created.contains(index) {
            return Ok(());
        }
        // write_{day}_{name} reads through {name}_{day}_read.
        let rest = index.strip_prefix("write_").unwrap_or(index);
        let (d, name) = rest.split_once('_').unwrap_or((rest, ""));
        let body = json!({
            "settings": {"number_of_shards": 3, "number_of_replicas": 1, "refresh_interval": "1s"},
            "aliases": {format!("{name}_{d}_read"): {}},
            "mappings": {"properties": {
                "create_time": {"type": "date", "format": "epoch_second"},
                "time": {"type": "date", "format": "epoch_second"},
                "severity": {"type": "integer"},
                "status": {"type": "keyword"},
                "dedupe_md5": {"type": "keyword"},
            }},
        });
        self.client
            .create_index(index, &body)
            .await
            .with_context(|| format!("creating index {index}"))?;
        self.created.insert(index.to_string());
        Ok(())
    }

    /// Send up to `limit` queued documents; answers what ES took and refused.
    pub async fn flush(&mut self, pool: &PgPool, limit: i64) -> anyhow::Result<Flushed> {
        let queued: Vec<(String, String, Option<i64>)> = db(pool, move |c| {
            ob::table
                .order(ob::queued_at)
                .limit(limit)
                .select((ob::kind, ob::doc_id, ob::time))
                .load(c)
        })
        .await?;
        if queued.is_empty() {
            return Ok(Flushed::default());
        }
        let alert_ids: Vec<String> = queued
            .iter()
            .filter(|q| q.0 == "alert")
            .map(|q| q.1.clone())
            .collect();
        // Events are found by their key, (time, id).
        let event_keys: Vec<(i64, String)> = queued
            .iter()
            .filter(|q| q.0 == "event")
            .map(|q| (q.2.unwrap_or_default(), q.1.clone()))
            .collect();
        let event_ids: Vec<String> = event_keys.iter().map(|k| k.1.clone()).collect();
        let ids = alert_ids.clone();
        let alerts: Vec<Alert> = db(pool, move |c| {
            al::table
                .filter(al::id.eq_any(ids))
                .select(Alert::as_select())
                .load(c)
        })
        .await?;
        let events: Vec<(String, String)> = db(pool, move |c| {
            let keys: Vec<(i64, &str)> =
                event_keys.iter().map(|(t, id)| (*t, id.as_str())).collect();
            crate::store::events_by_key::<EventDoc>(c, "e.id, e.doc", &keys)
                .map(|rows| rows.into_iter().map(|r| (r.id, r.doc)).collect())
        })
        .await?;
        // (kind, id, index, action line, document line)
        let mut docs: Vec<(&str, String, String, String, String)> = Vec::new();
        for a in &alerts {
            let index = alert_index(a);
            let body = serde_json::to_value(a)?;
            docs.push((
                "alert",
                a.id.clone(),
                index.clone(),
                json!({"update": {"_index": index, "_id": a.id}}).to_string(),
                json!({"doc": body, "doc_as_upsert": true}).to_string(),
            ));
        }
        for (id, doc) in &events {
            let index = event_index(&serde_json::from_str(doc).unwrap_or_default());
            docs.push((
                "event",
                id.clone(),
                index.clone(),
                json!({"index": {"_index": index, "_id": id}}).to_string(),
                doc.to_string(),
            ));
        }
        let indices: HashSet<String> = docs.iter().map(|d| d.2.clone()).collect();
        for i in indices {
            self.ensure_index(&i).await?;
        }
        let lines: Vec<(String, String)> =
            docs.iter().map(|d| (d.3.clone(), d.4.clone())).collect();
        let report = self.client.bulk_all(&lines).await?;
        let refused: Vec<_> = report
            .refused
            .iter()
            .map(|(i, error)| {
                let d = &docs[*i];
                (
                    rj::kind.eq(d.0.to_string()),
                    rj::doc_id.eq(d.1.clone()),
                    rj::index_name.eq(d.2.clone()),
                    rj::error.eq(error.clone()),
                    rj::document.eq(serde_json::from_str::<Value>(&d.4).unwrap_or(Value::Null)),
                )
            })
            .collect();
        let n_refused = refused.len();
        // Everything sent is settled: taken, or refused and kept with why. Documents queued
        // but gone from Postgres (deleted) leave the queue too.
        db(pool, move |c| {
            c.transaction(|c| {
                if !refused.is_empty() {
                    diesel::insert_into(rj::table).values(refused).execute(c)?;
                }
                for (kind, ids) in [("alert", &alert_ids), ("event", &event_ids)] {
                    diesel::delete(
                        ob::table
                            .filter(ob::kind.eq(kind))
                            .filter(ob::doc_id.eq_any(ids)),
                    )
                    .execute(c)?;
                }
                diesel::QueryResult::Ok(())
            })
        })
        .await?;
        Ok(Flushed {
            written: report.written,
            refused: n_refused,
        })
    }
}

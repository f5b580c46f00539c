//! The query API's Elasticsearch path (`prefer_storage: "es"`), as bklog's
//! `QueryClientBkData` uses it: `sql` is a JSON request, `{"index": …, "body": {…}}` (a
//! `_search`) or `{"index": …, "mapping": true}` (a `_mapping`). Each comma-separated index
//! names a result table (`591_nginx`, `591_nginx_*`, `591_nginx_20261203*`); every one must be
//! readable by the caller and stored on the same `es` cluster. The request sent to
//! Elasticsearch is built from the tables' own index names only, so no other index can be
//! reached, and only `_search` and `_mapping` are ever called.
use crate::query::Limits;
use bkdata_databus::auth::{self, Access};
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::{DataStorage, ResultTable, StorageCluster};
use bkdata_models::schema::{data_storages as ds, storage_clusters as sc};
use bkdata_storage::{EsClient, EsOptions};
use diesel::prelude::*;
use serde_json::{json, Value};

/// BKData's "no such index" code, which bklog answers with an empty result.
pub const NO_INDEX: &str = "1532006";
/// The daily part of an index name template.
const DAY: &str = "{yyyyMMdd}";

#[derive(Debug, Clone, PartialEq)]
pub struct EsRequest {
    pub indices: Vec<String>,
    /// `Some` for a search; `None` for a mapping.
    pub body: Option<Value>,
}

/// Read `sql` as an ES request.
pub fn parse(sql: &str) -> Result<EsRequest, DatabusError> {
    let bad = |m: &str| DatabusError::field("sql", m.to_string());
    let v: Value = serde_json::from_str(sql).map_err(|e| {
        bad(&format!(
            "with prefer_storage es, sql is a JSON object {{index, body}} or {{index, mapping: true}}: {e}"
        ))
    })?;
    let index = v["index"]
        .as_str()
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| bad("sql.index is required (comma-separated result table indices)"))?;
    let indices: Vec<String> = index
        .split(',')
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect();
    let body = if v["mapping"].as_bool() == Some(true) {
        None
    } else {
        match &v["body"] {
            Value::Object(_) => Some(v["body"].clone()),
            Value::Null => Some(json!({})),
            _ => {
                return Err(bad(
                    "sql.body must be a JSON object (an Elasticsearch query)",
                ))
            }
        }
    };
    Ok(EsRequest { indices, body })
}

/// An index of the request: the result table it names and the day it narrows to, if any.
fn table_of(index: &str) -> (String, Option<String>) {
    let base = index.trim_end_matches('*').trim_end_matches('_');
    // `…_20261203` (or a prefix of a day, `…_202612`) narrows to days.
    if let Some((rt, tail)) = base.rsplit_once('_') {
        if (4..=8).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_digit()) {
            return (rt.to_string(), Some(tail.to_string()));
        }
    }
    (base.to_string(), None)
}

pub struct EsPlan {
    pub cluster: StorageCluster,
    /// The index patterns sent to Elasticsearch, one per requested index.
    pub patterns: Vec<String>,
    pub tables: Vec<String>,
}

/// Resolve every index to a readable result table with an `es` storage.
pub fn plan(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &EsRequest,
) -> Result<EsPlan, DatabusError> {
    let mut patterns = Vec::new();
    let mut tables = Vec::new();
    let mut cluster_name: Option<String> = None;
    // Every es binding, read once for all the indices.
    let bindings: Vec<DataStorage> = ds::table
        .filter(ds::storage_type.eq("es"))
        .select(DataStorage::as_select())
        .load(conn)?;
    for index in &req.indices {
        let (name, mut day) = table_of(index);
        let mut found = resolve(conn, caller, &bindings, &name)?;
        if found.is_none() && day.is_some() {
            // What looked like a day may be part of the table's name (`591_x_2026`).
            let whole = index.trim_end_matches('*').trim_end_matches('_');
            found = resolve(conn, caller, &bindings, whole)?;
            day = None;
        }
        let (table, binding) = found.ok_or_else(|| DatabusError::Denied {
            code: NO_INDEX,
            message: format!(
                "index {index:?} names no result table you may query with an es storage"
            ),
        })?;
        if let Some(c) = &cluster_name {
            if *c != binding.cluster_name {
                return Err(DatabusError::field(
                    "sql",
                    format!(
                        "the indices of one query must share an es cluster; {} is on {}, not {c}",
                        table.result_table_id, binding.cluster_name
                    ),
                ));
            }
        }
        cluster_name = Some(binding.cluster_name.clone());
        let day_pattern = format!("{}*", day.as_deref().unwrap_or(""));
        let pattern = binding
            .physical_table_name
            .replacen(DAY, &day_pattern, 1)
            .to_ascii_lowercase();
        patterns.push(pattern);
        tables.push(table.result_table_id.clone());
    }
    let name =
        cluster_name.ok_or_else(|| DatabusError::field("sql", "sql.index names no index"))?;
    let cluster: StorageCluster = sc::table
        .find(&name)
        .select(StorageCluster::as_select())
        .first(conn)?;
    Ok(EsPlan {
        cluster,
        patterns,
        tables,
    })
}

/// The table (ids are matched case-insensitively, as ES names are lower case) and its es
/// binding, when the caller may query it.
fn resolve(
    conn: &mut PgConnection,
    caller: &Caller,
    bindings: &[DataStorage],
    name: &str,
) -> Result<Option<(ResultTable, DataStorage)>, DatabusError> {
    for b in bindings {
        if b.result_table_id.eq_ignore_ascii_case(name) {
            if let Some(t) = auth::result_table(conn, caller, &b.result_table_id, Access::Query)? {
                return Ok(Some((t, b.clone())));
            }
        }
    }
    Ok(None)
}

/// Run a planned request; answers BKData's `{list: <Elasticsearch's answer>, …}`.
pub async fn run(plan: &EsPlan, req: &EsRequest, limits: Limits) -> Result<Value, DatabusError> {
    let started = std::time::Instant::now();
    if let Some(size) = req.body.as_ref().and_then(|b| b["size"].as_u64()) {
        if size as usize > limits.max_rows {
            return Err(DatabusError::field(
                "sql",
                format!(
                    "body.size {size} is over the query limit of {} rows",
                    limits.max_rows
                ),
            ));
        }
    }
    let conn = plan
        .cluster
        .connection
        .as_object()
        .cloned()
        .unwrap_or_default();
    let client = EsClient::connect(
        &conn,
        EsOptions {
            timeout: limits.timeout,
            ..EsOptions::default()
        },
    )
    .map_err(|e| DatabusError::field("sql", e.to_string()))?;
    let target = plan.patterns.join(",");
    let (path, body) = match &req.body {
        Some(b) => (format!("{target}/_search?ignore_unavailable=true"), Some(b)),
        None => (format!("{target}/_mapping?ignore_unavailable=true"), None),
    };
    let (status, answer) = client
        .read(&path, body)
        .await
        .map_err(|e| bkdata_databus::error::of_storage(e, &plan.cluster.cluster_name, "sql"))?;
    if status == 404 && answer["error"]["type"] == "index_not_found_exception" {
        return Err(DatabusError::Denied {
            code: NO_INDEX,
            message: format!("no index of {} exists yet", plan.tables.join(", ")),
        });
    }
    if !(200..300).contains(&status) {
        let reason = answer["error"]["reason"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| answer.to_string());
        return Err(DatabusError::field(
            "sql",
            format!("elasticsearch answered {status}: {reason}"),
        ));
    }
    let total = match &answer["hits"]["total"] {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        v => v["value"].as_u64().unwrap_or(0),
    };
    Ok(json!({
        "list": answer,
        "select_fields_order": [],
        "total_records": total,
        "timetaken": started.elapsed().as_secs_f64(),
        "result_table_ids": plan.tables,
        "device": "es",
        "cluster": plan.cluster.cluster_name,
        "sql": json!({"index": target, "mapping": req.body.is_none()}).to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_as_bklog_sends_them() {
        let r = parse(r#"{"index": "2_bklog_a,2_bklog_b_*", "body": {"size": 1}}"#).unwrap();
        assert_eq!(r.indices, ["2_bklog_a", "2_bklog_b_*"]);
        assert_eq!(r.body, Some(json!({"size": 1})));
        let m = parse(r#"{"index": "2_bklog_a_*", "mapping": true}"#).unwrap();
        assert_eq!(m.body, None);
        assert!(parse("SELECT 1").is_err());
        assert!(parse(r#"{"body": {}}"#).is_err());
        assert!(parse(r#"{"index": "a", "body": 3}"#).is_err());
    }

    #[test]
    fn indices_name_tables_and_days() {
        assert_eq!(table_of("2_bklog_a"), ("2_bklog_a".into(), None));
        assert_eq!(table_of("2_bklog_a_*"), ("2_bklog_a".into(), None));
        assert_eq!(
            table_of("2_bklog_a_20261203*"),
            ("2_bklog_a".into(), Some("20261203".into()))
        );
        assert_eq!(
            table_of("2_bklog_a_2026*"),
            ("2_bklog_a".into(), Some("2026".into()))
        );
        assert_eq!(table_of("2_x_12"), ("2_x_12".into(), None));
    }
}

//! BKData's meta result tables (`/v3/meta/result_tables/…`) as bklog and bk-monitor read
//! them: list with filters and pages, retrieve with `related` fields and storages, the fields
//! and the storages of one, and the caller's own (`mine`). Only readable tables are shown
//! (`auth::result_table`); storage clusters appear without their secrets.
use crate::auth::{self, Access};
use crate::error::DatabusError;
use crate::projects;
use crate::rawdata::bk_time;
use bkdata_models::auth::Caller;
use bkdata_models::databus::{DataStorage, ResultTable, StorageCluster};
use bkdata_models::schema::{data_storages as ds, shippers as sh, storage_clusters as sc};
use diesel::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Filters of the list, from the query string (repeated keys are lists, as bklog sends them).
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub bk_biz_ids: Vec<i64>,
    pub project_id: Option<i64>,
    pub result_table_ids: Vec<String>,
    pub processing_type: Option<String>,
    pub related: Vec<String>,
    /// `{"type": "storages", "attr_name": "common_cluster.cluster_type", "attr_value": "es"}`.
    pub related_filter: Option<Value>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
    /// Only the tables the caller manages (`mine/`).
    pub mine: bool,
}

/// The largest page, as BKData's.
pub const MAX_PAGE_SIZE: usize = 5000;

impl ListQuery {
    /// From query pairs; `related` and the id lists take repeated keys, comma lists or JSON
    /// lists (bklog sends all three).
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, DatabusError> {
        let mut q = ListQuery::default();
        let values = |k: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(key, _)| key == k || *key == format!("{k}[]"))
                .flat_map(|(_, v)| list_items(v))
                .collect()
        };
        let int = |k: &str, v: &str| -> Result<i64, DatabusError> {
            v.trim()
                .parse()
                .map_err(|_| DatabusError::field(k, format!("{k} must be an integer, not {v:?}")))
        };
        for v in values("bk_biz_id") {
            q.bk_biz_ids.push(int("bk_biz_id", &v)?);
        }
        if let Some(v) = values("project_id").first() {
            q.project_id = Some(int("project_id", v)?);
        }
        q.result_table_ids = values("result_table_ids");
        q.result_table_ids.extend(values("result_table_id"));
        q.processing_type = values("processing_type").into_iter().next();
        q.related = values("related");
        if let Some(f) = values_raw(pairs, "related_filter") {
            q.related_filter = Some(serde_json::from_str(&f).map_err(|e| {
                DatabusError::field("related_filter", format!("related_filter is not JSON: {e}"))
            })?);
        }
        if let Some(v) = values("page").first() {
            q.page = Some(int("page", v)?.max(1) as usize);
        }
        if let Some(v) = values("page_size").first() {
            let n = int("page_size", v)?;
            if !(1..=MAX_PAGE_SIZE as i64).contains(&n) {
                return Err(DatabusError::field(
                    "page_size",
                    format!("page_size must be from 1 to {MAX_PAGE_SIZE}"),
                ));
            }
            q.page_size = Some(n as usize);
        }
        Ok(q)
    }
}

fn values_raw(pairs: &[(String, String)], k: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.clone())
}

/// `a`, `a,b` or `["a","b"]`.
fn list_items(v: &str) -> Vec<String> {
    let v = v.trim();
    if v.starts_with('[') {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(v) {
            return items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect();
        }
    }
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A result table as meta answers it; `related` adds `fields` and `storages`.
fn table_view(t: &ResultTable, related: &[String], storages: Option<Map<String, Value>>) -> Value {
    let mut v = json!({
        "result_table_id": t.result_table_id,
        "bk_biz_id": t.bk_biz_id,
        "result_table_name": t.result_table_name,
        "result_table_name_alias": t.result_table_name_alias,
        "processing_type": t.processing_type,
        "result_table_type": null,
        "generate_type": "user",
        "sensitivity": "private",
        "count_freq": 0,
        "count_freq_unit": "s",
        "is_managed": 1,
        "platform": "bkdata",
        "description": t.description,
        "created_by": t.created_by,
        "created_at": bk_time(t.created_at),
        "updated_by": t.updated_by,
        "updated_at": bk_time(t.updated_at),
    });
    if related.iter().any(|r| r == "fields") {
        v["fields"] = json!(fields_view(t));
    }
    if let Some(s) = storages {
        v["storages"] = Value::Object(s);
    }
    v
}

fn fields_view(t: &ResultTable) -> Vec<Value> {
    t.fields
        .as_array()
        .map(|fs| {
            fs.iter()
                .enumerate()
                .map(|(i, f)| {
                    json!({
                        "id": i + 1,
                        "field_index": f.get("field_index").cloned().unwrap_or(json!(i)),
                        "field_name": f["field_name"],
                        "field_alias": f.get("field_alias").cloned().unwrap_or(json!("")),
                        "field_type": f["field_type"],
                        "is_dimension": f.get("is_dimension").cloned().unwrap_or(json!(false)),
                        "description": f.get("description").cloned().unwrap_or(json!("")),
                        "origins": null,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The storages of result tables, by table: `{storage_type: {storage_cluster, physical_table_name,
/// expires, storage_config, active, …}}`. `connection_info` and `storage_config` are JSON
/// strings, as BKData's; connection secrets are left out.
fn storages_of(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, Map<String, Value>>, DatabusError> {
    let bindings: Vec<DataStorage> = ds::table
        .filter(ds::result_table_id.eq_any(ids))
        .order((ds::result_table_id, ds::storage_type))
        .select(DataStorage::as_select())
        .load(conn)?;
    let names: Vec<&String> = bindings.iter().map(|b| &b.cluster_name).collect();
    let clusters: HashMap<String, StorageCluster> = sc::table
        .filter(sc::cluster_name.eq_any(names))
        .select(StorageCluster::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| (c.cluster_name.clone(), c))
        .collect();
    let running: Vec<(String, String)> = sh::table
        .filter(sh::result_table_id.eq_any(ids))
        .filter(sh::status.eq(bkdata_models::states::ShipperStatus::Running))
        .select((sh::result_table_id, sh::storage_type))
        .load(conn)?;
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    for b in &bindings {
        let cluster = clusters.get(&b.cluster_name);
        let info = cluster
            .map(crate::clusters::public_connection)
            .unwrap_or_default();
        let active = b.storage_type == "queue"
            || running.contains(&(b.result_table_id.clone(), b.storage_type.clone()));
        let cluster_type = cluster.map_or(b.storage_type.as_str(), |c| c.cluster_type.as_str());
        let storage_cluster = json!({
            "id": cluster_id(&b.cluster_name),
            "cluster_name": b.cluster_name,
            "cluster_type": cluster_type,
            "cluster_group": "default",
            "connection_info": Value::Object(info).to_string(),
            "belongs_to": "bkdata",
            "version": "",
        });
        out.entry(b.result_table_id.clone()).or_default().insert(
            b.storage_type.clone(),
            json!({
                "id": cluster_id(&format!("{}:{}", b.result_table_id, b.storage_type)),
                "result_table_id": b.result_table_id,
                "storage_cluster": storage_cluster,
                "storage_channel": {},
                "physical_table_name": b.physical_table_name,
                "expires": b.expires,
                "storage_config": b.storage_config.to_string(),
                "priority": 0,
                "generate_type": "user",
                "active": active,
                "data_type": b.data_type,
                "description": "",
                "created_by": b.created_by,
                "created_at": bk_time(b.created_at),
                "updated_by": b.updated_by,
                "updated_at": bk_time(b.updated_at),
            }),
        );
    }
    Ok(out)
}

/// A stable small id for a name (BKData's clusters and bindings have integer ids; ours are
/// keyed by name).
fn cluster_id(name: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    (h.finish() % 1_000_000_000) as i64 + 1
}

fn matches_related_filter(
    f: &Value,
    storages: Option<&Map<String, Value>>,
) -> Result<bool, DatabusError> {
    let kind = f["type"].as_str().unwrap_or("");
    let attr = f["attr_name"].as_str().unwrap_or("");
    let want = match &f["attr_value"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if kind != "storages" {
        return Err(DatabusError::field(
            "related_filter",
            format!("related_filter type {kind:?} is not supported: use storages"),
        ));
    }
    let key = match attr {
        "common_cluster.cluster_type" | "storage_cluster.cluster_type" | "cluster_type" => {
            "cluster_type"
        }
        "common_cluster.cluster_name" | "storage_cluster.cluster_name" | "cluster_name" => {
            "cluster_name"
        }
        _ => {
            return Err(DatabusError::field(
                "related_filter",
                format!(
                    "related_filter attr_name {attr:?} is not supported: use \
                     common_cluster.cluster_type or common_cluster.cluster_name"
                ),
            ))
        }
    };
    Ok(storages.is_some_and(|s| {
        s.values()
            .any(|b| b["storage_cluster"][key].as_str() == Some(want.as_str()))
    }))
}

/// GET `result_tables/` (and `mine/`).
pub fn list(
    conn: &mut PgConnection,
    caller: &Caller,
    q: &ListQuery,
) -> Result<Vec<Value>, DatabusError> {
    let access = if q.mine { Access::Manage } else { Access::Read };
    let mut tables = auth::result_tables(conn, caller, access)?;
    if !q.bk_biz_ids.is_empty() {
        tables.retain(|t| q.bk_biz_ids.contains(&t.bk_biz_id));
    }
    if !q.result_table_ids.is_empty() {
        tables.retain(|t| q.result_table_ids.contains(&t.result_table_id));
    }
    if let Some(pt) = &q.processing_type {
        tables.retain(|t| &t.processing_type == pt);
    }
    if let Some(pid) = q.project_id {
        let project = projects::get(conn, caller, pid)?;
        let mut kept = Vec::new();
        for t in tables {
            if projects::readable(conn, &project, &t.result_table_id)?.is_some() {
                kept.push(t);
            }
        }
        tables = kept;
    }
    let want_storages = q.related.iter().any(|r| r == "storages") || q.related_filter.is_some();
    let mut storages = if want_storages {
        let ids: Vec<String> = tables.iter().map(|t| t.result_table_id.clone()).collect();
        storages_of(conn, &ids)?
    } else {
        HashMap::new()
    };
    if let Some(f) = &q.related_filter {
        let mut kept = Vec::new();
        for t in tables {
            if matches_related_filter(f, storages.get(&t.result_table_id))? {
                kept.push(t);
            }
        }
        tables = kept;
    }
    if let Some(size) = q.page_size {
        let page = q.page.unwrap_or(1);
        tables = tables
            .into_iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .collect();
    }
    let with_storages = q.related.iter().any(|r| r == "storages");
    Ok(tables
        .iter()
        .map(|t| {
            let s = with_storages.then(|| storages.remove(&t.result_table_id).unwrap_or_default());
            table_view(t, &q.related, s)
        })
        .collect())
}

fn readable(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
) -> Result<ResultTable, DatabusError> {
    auth::result_table(conn, caller, id, Access::Read)?
        .ok_or_else(|| DatabusError::NotFound(format!("result table {id} does not exist")))
}

/// GET `result_tables/{rt}/?related=fields&related=storages`.
pub fn retrieve(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
    related: &[String],
) -> Result<Value, DatabusError> {
    let t = readable(conn, caller, id)?;
    let storages = if related.iter().any(|r| r == "storages") {
        Some(
            storages_of(conn, std::slice::from_ref(&t.result_table_id))?
                .remove(&t.result_table_id)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    // The fields always come with one table (the databus view has always had them).
    let mut related = related.to_vec();
    related.push("fields".into());
    Ok(table_view(&t, &related, storages))
}

/// GET `result_tables/{rt}/fields/`.
pub fn fields(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
) -> Result<Vec<Value>, DatabusError> {
    Ok(fields_view(&readable(conn, caller, id)?))
}

/// GET `result_tables/{rt}/storages/`: `{storage_type: binding}`.
pub fn storages(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
) -> Result<Map<String, Value>, DatabusError> {
    let t = readable(conn, caller, id)?;
    Ok(storages_of(conn, std::slice::from_ref(&t.result_table_id))?
        .remove(&t.result_table_id)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn list_params_in_every_form_bklog_sends() {
        let q = ListQuery::from_pairs(&pairs(&[
            ("related", "fields"),
            ("related", "storages"),
            ("bk_biz_id", "2"),
            ("result_table_ids", "[\"2_a\",\"2_b\"]"),
            ("result_table_ids", "2_c,2_d"),
            ("page", "2"),
            ("page_size", "10"),
            (
                "related_filter",
                r#"{"type":"storages","attr_name":"common_cluster.cluster_type","attr_value":"es"}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(q.related, ["fields", "storages"]);
        assert_eq!(q.bk_biz_ids, [2]);
        assert_eq!(q.result_table_ids, ["2_a", "2_b", "2_c", "2_d"]);
        assert_eq!((q.page, q.page_size), (Some(2), Some(10)));
        assert_eq!(q.related_filter.unwrap()["attr_value"], "es");
        assert!(ListQuery::from_pairs(&pairs(&[("bk_biz_id", "x")])).is_err());
        assert!(ListQuery::from_pairs(&pairs(&[("page_size", "5001")])).is_err());
        assert!(ListQuery::from_pairs(&pairs(&[("related_filter", "{")])).is_err());
    }
}

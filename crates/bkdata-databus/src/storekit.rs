//! The storekit calls bklog makes beside the cluster CRUD (`storage`): a result table's
//! storage schema and default queries (`result_tables/{rt}/schema_and_sql/`), a cluster's
//! config (`storage_cluster_configs/{name}/`), and read-only Elasticsearch routing
//! (`es/route/`), for a cluster that holds a table the caller may read.
use crate::auth::{self, Access};
use crate::error::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::{DataStorage, StorageCluster};
use bkdata_models::schema::{data_storages as ds, storage_clusters as sc};
use bkdata_storage::{EsClient, EsOptions};
use diesel::prelude::*;
use serde_json::{json, Value};

/// The platform's time columns in a stored table.
const TIME_FIELDS: [&str; 5] = [
    "dtEventTime",
    "dtEventTimeStamp",
    "localTime",
    "thedate",
    "timestamp",
];
/// The order the query API tries storages in.
const QUERY_ORDER: [&str; 4] = ["postgresql", "mysql", "tspider", "es"];

/// GET `result_tables/{rt}/schema_and_sql/`: per storage, its fields (with `physical_field`
/// and `is_time`), its config and a default query; `storages` and the query `order`.
pub fn schema_and_sql(
    conn: &mut PgConnection,
    caller: &Caller,
    rt_id: &str,
) -> Result<Value, DatabusError> {
    let t = auth::result_table(conn, caller, rt_id, Access::Read)?
        .ok_or_else(|| DatabusError::NotFound(format!("result table {rt_id} does not exist")))?;
    let bindings: Vec<DataStorage> = ds::table
        .filter(ds::result_table_id.eq(rt_id))
        .order(ds::storage_type)
        .select(DataStorage::as_select())
        .load(conn)?;
    let mut storage = serde_json::Map::new();
    let mut names = Vec::new();
    for b in &bindings {
        let fields: Vec<Value> = b
            .fields
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| {
                let name = f["field_name"].as_str().unwrap_or_default();
                json!({
                    "field_name": name,
                    "field_type": f["field_type"],
                    "field_alias": f.get("field_alias").cloned().unwrap_or(json!("")),
                    "is_dimension": f.get("is_dimension").cloned().unwrap_or(json!(false)),
                    "field_index": f.get("field_index").cloned().unwrap_or(json!(i)),
                    "physical_field": name,
                    "physical_field_type": f["field_type"],
                    "description": f.get("description").cloned().unwrap_or(json!("")),
                    "is_time": TIME_FIELDS.contains(&name),
                })
            })
            .collect();
        let sql = match b.storage_type.as_str() {
            "postgresql" | "mysql" | "tspider" => format!(
                "SELECT * FROM {rt_id} WHERE thedate>='{today}' AND thedate<='{today}' ORDER BY dtEventTime DESC LIMIT 10",
                today = chrono::Utc::now().format("%Y%m%d")
            ),
            "es" => json!({"index": format!("{}_*", rt_id.to_ascii_lowercase()),
                "body": {"query": {"match_all": {}}, "size": 10}})
            .to_string(),
            _ => String::new(),
        };
        storage.insert(
            b.storage_type.clone(),
            json!({"fields": fields, "config": b.storage_config, "sql": sql}),
        );
        names.push(b.storage_type.clone());
    }
    let order: Vec<&str> = QUERY_ORDER
        .iter()
        .copied()
        .filter(|s| names.iter().any(|n| n == s))
        .collect();
    Ok(json!({
        "result_table_id": t.result_table_id,
        "storage": storage,
        "storages": names,
        "order": order,
    }))
}

/// GET `storage_cluster_configs/{name}/`: the cluster without its secrets.
pub fn cluster_config(conn: &mut PgConnection, name: &str) -> Result<Value, DatabusError> {
    let c: StorageCluster = sc::table
        .find(name)
        .select(StorageCluster::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DatabusError::NotFound(format!("storage cluster {name} does not exist")))?;
    let info = crate::clusters::public_connection(&c);
    let v = crate::clusters::view(&c);
    Ok(json!({
        "cluster_name": v.cluster_name,
        "cluster_type": v.cluster_type,
        "cluster_group": "default",
        "cluster_domain": info.get("host").cloned().unwrap_or(Value::Null),
        "cluster_port": info.get("port").cloned().unwrap_or(Value::Null),
        "connection_info": Value::Object(info).to_string(),
        "expires": "{}",
        "priority": 0,
        "version": "",
        "belongs_to": "bkdata",
        "description": v.description,
        "created_by": v.created_by,
        "created_at": v.created_at,
        "updated_by": v.updated_by,
        "updated_at": v.updated_at,
    }))
}

/// The Elasticsearch paths `es/route/` passes on: cluster, node and index statistics
/// (`_cat/…`, `_cluster/health|stats`, `_nodes/stats`), read with GET only.
fn route_allowed(uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or("");
    let safe = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-*.,/".contains(c))
    };
    let query_ok = uri.split_once('?').is_none_or(|(_, q)| {
        q.split('&').all(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            matches!(k, "bytes" | "format" | "h" | "v" | "s" | "level") && safe(v)
        })
    });
    safe(path)
        && !path.contains("..")
        && query_ok
        && (path.starts_with("_cat/")
            || matches!(path, "_cluster/health" | "_cluster/stats" | "_nodes/stats"))
}

/// GET `es/route/?cluster_name=…&uri=…`: Elasticsearch's answer, as a JSON string (bklog
/// `json.loads` it). The cluster must hold an `es` storage of a table the caller may read.
pub async fn es_route(
    pool: &bkdata_models::PgPool,
    caller: &Caller,
    cluster_name: &str,
    uri: &str,
) -> Result<String, DatabusError> {
    let uri = uri.trim_start_matches('/');
    if !route_allowed(uri) {
        return Err(DatabusError::field(
            "uri",
            format!(
                "uri {uri:?} is not passed on: es/route/ reads _cat/…, _cluster/health, \
                 _cluster/stats and _nodes/stats"
            ),
        ));
    }
    let (pool, c, name) = (pool.clone(), caller.clone(), cluster_name.to_string());
    let cluster = bkdata_models::db::blocking(&pool, move |conn| {
        let cluster: StorageCluster = sc::table
            .find(&name)
            .filter(sc::cluster_type.eq("es"))
            .select(StorageCluster::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DatabusError::NotFound(format!("es cluster {name} does not exist")))?;
        let tables: Vec<String> = ds::table
            .filter(ds::cluster_name.eq(&name))
            .select(ds::result_table_id)
            .load(conn)?;
        for t in tables {
            if auth::result_table(conn, &c, &t, Access::Read)?.is_some() {
                return Ok(cluster);
            }
        }
        Err(DatabusError::NotFound(format!(
            "es cluster {name} does not exist or holds no table you may read"
        )))
    })
    .await?;
    let conn = cluster.connection.as_object().cloned().unwrap_or_default();
    let client = EsClient::connect(&conn, EsOptions::default())
        .map_err(|e| DatabusError::field("cluster_name", e.to_string()))?;
    let (status, answer) = client
        .read(uri, None)
        .await
        .map_err(|e| crate::error::of_storage(e, &cluster.cluster_name, "uri"))?;
    if !(200..300).contains(&status) {
        return Err(DatabusError::field(
            "uri",
            format!("elasticsearch answered {status}: {answer}"),
        ));
    }
    Ok(answer.to_string())
}

#[cfg(test)]
mod tests {
    use super::route_allowed;

    #[test]
    fn only_statistics_are_routed() {
        assert!(route_allowed("_cluster/stats"));
        assert!(route_allowed("_cat/indices/2_bklog_*?bytes=mb&format=json"));
        assert!(route_allowed("_nodes/stats"));
        assert!(!route_allowed("2_bklog_a/_search"));
        assert!(!route_allowed("_cat/indices?format=json&pretty=<x>"));
        assert!(!route_allowed("_cluster/settings"));
        assert!(!route_allowed("_cat/../_all"));
        assert!(!route_allowed("_cat/indices?q=x"));
    }
}

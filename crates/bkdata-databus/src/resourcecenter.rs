//! BKData's resource center as bklog calls it. Resources here are the storage clusters and
//! the one worker fleet, in one resource group (`default`): `clusters/query_digest/` lists
//! them, and `resource_sets/` (bklog syncing its Elasticsearch clusters) creates or updates
//! the storage cluster a resource set describes.
use crate::clusters;
use crate::error::DatabusError;
use bkdata_api::databus::ClusterRequest;
use bkdata_models::auth::Caller;
use bkdata_models::schema::workers as w;
use diesel::prelude::*;
use serde_json::{json, Map, Value};

pub const RESOURCE_GROUP: &str = "default";

/// GET `clusters/query_digest/?resource_type=storage|processing&service_type=es&cluster_name=…`.
pub fn query_digest(
    conn: &mut PgConnection,
    resource_type: &str,
    service_type: Option<&str>,
    cluster_name: Option<&str>,
) -> Result<Vec<Value>, DatabusError> {
    match resource_type {
        "storage" => {
            let rows = clusters::list(conn, service_type.filter(|s| !s.is_empty()))?;
            Ok(rows
                .iter()
                .filter(|c| cluster_name.is_none_or(|n| n == c.cluster_name))
                .map(|c| {
                    json!({
                        "resource_group_id": RESOURCE_GROUP,
                        "group_name": RESOURCE_GROUP,
                        "geog_area_code": "inland",
                        "resource_type": "storage",
                        "service_type": c.cluster_type,
                        "cluster_type": c.cluster_type,
                        "cluster_id": c.cluster_name,
                        "cluster_name": c.cluster_name,
                        "active": true,
                    })
                })
                .collect())
        }
        "processing" | "schedule" => {
            let now = chrono::Utc::now();
            let live: i64 = w::table
                .filter(w::stopped_at.is_null())
                .filter(w::last_seen_at.gt(now - chrono::Duration::minutes(1)))
                .count()
                .get_result(conn)?;
            Ok(vec![json!({
                "resource_group_id": RESOURCE_GROUP,
                "group_name": RESOURCE_GROUP,
                "geog_area_code": "inland",
                "resource_type": resource_type,
                "service_type": service_type.unwrap_or("stream"),
                "cluster_type": "bkdata-worker",
                "cluster_id": "workers",
                "cluster_name": "workers",
                "workers": live,
                "active": live > 0,
            })])
        }
        other => Err(DatabusError::field(
            "resource_type",
            format!("resource_type {other:?} is not known: use storage, processing or schedule"),
        )),
    }
}

/// The storage cluster a resource set describes (`category` is its type; the connection's
/// `username` is the cluster's `user`).
fn cluster_request(body: &Value, name: &str) -> ClusterRequest {
    let mut conn: Map<String, Value> = body["connection_info"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(u) = conn.remove("username") {
        conn.insert("user".into(), u);
    }
    // Settings of BKData's ES resource set that are not connection settings.
    for k in [
        "enable_auth",
        "transport",
        "enable_replica",
        "hot_save_days",
        "total_shards_per_node",
        "max_shard_num",
        "has_cold_nodes",
        "has_hot_node",
        "hot_node_num",
        "save_days",
        "cluster_type",
        "cluster_name",
    ] {
        conn.remove(k);
    }
    ClusterRequest {
        cluster_name: Some(name.to_string()),
        cluster_type: body["category"].as_str().map(str::to_string),
        connection_info: Some(Value::Object(conn)),
        connection: None,
        description: body["purpose"].as_str().map(str::to_string),
    }
}

fn answer(c: &bkdata_models::databus::StorageCluster, body: &Value) -> Value {
    json!({
        "resource_set_id": c.cluster_name,
        "resource_set_name": body["resource_set_name"],
        "resource_group_id": RESOURCE_GROUP,
        "resource_capacity": {"storage": {"cluster_name": c.cluster_name,
            "cluster_type": c.cluster_type}},
    })
}

/// POST `resource_sets/`: a new storage cluster named by `resource_set_id`.
pub fn create_resource_set(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &Value,
) -> Result<Value, DatabusError> {
    let name = body["resource_set_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DatabusError::field("resource_set_id", "resource_set_id is required"))?;
    let c = clusters::create(conn, caller, &cluster_request(body, name))?;
    Ok(answer(&c, body))
}

/// PATCH `resource_sets/{id}/`: update the cluster (secrets left out keep their value).
pub fn update_resource_set(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
    body: &Value,
) -> Result<Value, DatabusError> {
    let req = cluster_request(body, id);
    let t = match &req.cluster_type {
        Some(t) => t.clone(),
        None => clusters::list(conn, None)?
            .into_iter()
            .find(|c| c.cluster_name == id)
            .map(|c| c.cluster_type)
            .ok_or_else(|| DatabusError::NotFound(format!("resource set {id} does not exist")))?,
    };
    let c = clusters::update(conn, caller, &t, id, &req)?;
    Ok(answer(&c, body))
}

//! Storekit and resource-center calls (bklog's `BkDataStorekitApi` and
//! `BkDataResourceCenterApi` names).
use super::{BkDataClient, Call, Error, Tenant};
use reqwest::Method;
use serde_json::{json, Value};

impl BkDataClient {
    fn storekit(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(method, Self::url(&self.inner.roots.storekit, path), p)
    }

    fn resourcecenter(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(method, Self::url(&self.inner.roots.resourcecenter, path), p)
    }

    /// GET `result_tables/{rt}/schema_and_sql/`: bklog reads `storage.es.fields`.
    pub async fn get_schema_and_sql(&self, result_table_id: &str) -> Result<Value, Error> {
        self.send(
            self.storekit(
                Method::GET,
                &format!("result_tables/{result_table_id}/schema_and_sql/"),
                json!({}),
            )
            .tenant(Tenant::FromTable(result_table_id.to_string())),
        )
        .await
    }

    /// GET `storage_cluster_configs/{cluster_name}/`.
    pub async fn get_cluster_config(&self, cluster_name: &str) -> Result<Value, Error> {
        self.send(self.storekit(
            Method::GET,
            &format!("storage_cluster_configs/{cluster_name}/"),
            json!({}),
        ))
        .await
    }

    /// GET `es/route/?cluster_name=…&uri=…`: Elasticsearch's answer as a JSON string (bklog
    /// `json.loads` it), for statistics paths (`_cat/…`, `_cluster/stats`, `_nodes/stats`).
    pub async fn storekit_es_route(&self, cluster_name: &str, uri: &str) -> Result<String, Error> {
        self.send_typed(self.storekit(
            Method::GET,
            "es/route/",
            json!({"cluster_name": cluster_name, "uri": uri}),
        ))
        .await
    }

    /// GET `clusters/query_digest/` (`resource_type`, `service_type`, `cluster_name`):
    /// `[{resource_group_id, cluster_name, …}]`.
    pub async fn cluster_query_digest(&self, filters: Value) -> Result<Vec<Value>, Error> {
        self.send_typed(self.resourcecenter(Method::GET, "clusters/query_digest/", filters))
            .await
    }

    /// POST `resource_sets/` (bklog syncing an ES cluster): answers
    /// `resource_capacity.storage.cluster_name`.
    pub async fn create_resource_set(&self, body: Value) -> Result<Value, Error> {
        self.send(self.resourcecenter(Method::POST, "resource_sets/", body))
            .await
    }

    /// PATCH `resource_sets/{resource_set_id}/`.
    pub async fn update_resource_set(&self, body: Value) -> Result<Value, Error> {
        let id = body["resource_set_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.send(self.resourcecenter(Method::PATCH, &format!("resource_sets/{id}/"), body))
            .await
    }
}

//! Databus, access, meta, storekit and dataquery calls (bklog's `BkDataDatabusApi` names
//! where bklog has them, wire reference §1.2), typed with the server's shapes
//! (`crate::databus`) where the answer has one.
use super::{params, BkDataClient, Call, Error, Tenant};
use crate::databus::*;
use crate::dataflow::{QueryRequest, QueryResult};
use reqwest::Method;
use serde_json::{json, Value};

impl BkDataClient {
    fn databus(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(method, Self::url(&self.inner.roots.databus_v3, path), p)
    }

    fn databus_rt(&self, method: Method, path: &str, rt: &str, p: Value) -> Call {
        self.databus(method, path, p)
            .tenant(Tenant::FromTable(rt.to_string()))
    }

    /// GET `data_storages/` (`raw_data_id`, `bk_biz_id` filters); cached 60 s as in bklog.
    pub async fn get_config_db_list(&self, filters: Value) -> Result<Vec<DataStorageInfo>, Error> {
        let mut c = self.databus(Method::GET, "data_storages/", filters);
        c.cached = true;
        self.send_typed(c).await
    }

    /// POST `data_storages/`. Never cached (bklog caches writes too; that is a quirk).
    pub async fn databus_data_storages_post(
        &self,
        body: &DataStorageRequest,
    ) -> Result<DataStorageInfo, Error> {
        self.send_typed(self.databus(Method::POST, "data_storages/", json!(body)))
            .await
    }

    /// PUT `data_storages/{result_table_id}/`.
    pub async fn databus_data_storages_put(
        &self,
        result_table_id: &str,
        body: &DataStorageRequest,
    ) -> Result<DataStorageInfo, Error> {
        let path = format!("data_storages/{result_table_id}/");
        self.send_typed(self.databus_rt(Method::PUT, &path, result_table_id, json!(body)))
            .await
    }

    /// GET `cleans/` (`raw_data_id`, `bk_biz_id` filters).
    pub async fn get_cleans(&self, filters: Value) -> Result<Vec<CleanInfo>, Error> {
        self.send_typed(self.databus(Method::GET, "cleans/", filters))
            .await
    }

    pub async fn get_clean(&self, processing_id: &str) -> Result<CleanInfo, Error> {
        let path = format!("cleans/{processing_id}/");
        self.send_typed(self.databus_rt(Method::GET, &path, processing_id, json!({})))
            .await
    }

    /// POST `cleans/`: the clean, with `result_table_id` and `processing_id`.
    pub async fn databus_cleans_post(&self, body: &CleanRequest) -> Result<CleanInfo, Error> {
        self.send_typed(self.databus(Method::POST, "cleans/", json!(body)))
            .await
    }

    pub async fn databus_cleans_put(
        &self,
        processing_id: &str,
        body: &CleanRequest,
    ) -> Result<CleanInfo, Error> {
        let path = format!("cleans/{processing_id}/");
        self.send_typed(self.databus_rt(Method::PUT, &path, processing_id, json!(body)))
            .await
    }

    /// POST v4 `clean/debug/` (bklog's shape); the static tenant.
    pub async fn databus_clean_debug(&self, body: Value) -> Result<Value, Error> {
        let c = Call::new(
            Method::POST,
            Self::url(&self.inner.roots.databus_v4, "clean/debug/"),
            body,
        )
        .tenant(Tenant::Static);
        self.send(c).await
    }

    /// POST v3 `cleans/verify/` (`{conf, msg}` → per-node result).
    pub async fn clean_verify(&self, body: &VerifyRequest) -> Result<Value, Error> {
        self.send(self.databus(Method::POST, "cleans/verify/", json!(body)))
            .await
    }

    /// POST `tasks/` (`{result_table_id, storages}`).
    pub async fn post_tasks(&self, body: &TaskRequest) -> Result<TaskState, Error> {
        let rt = body.result_table_id.clone().unwrap_or_default();
        self.send_typed(self.databus_rt(Method::POST, "tasks/", &rt, json!(body)))
            .await
    }

    pub async fn get_tasks(&self, result_table_id: &str) -> Result<TaskState, Error> {
        let path = format!("tasks/{result_table_id}/");
        self.send_typed(self.databus_rt(Method::GET, &path, result_table_id, json!({})))
            .await
    }

    /// DELETE `tasks/{result_table_id}/` (`storages` to stop some only).
    pub async fn delete_tasks(
        &self,
        result_table_id: &str,
        storages: Option<Vec<String>>,
    ) -> Result<TaskState, Error> {
        let path = format!("tasks/{result_table_id}/");
        let p = params(&[("storages", storages.map(|s| json!(s)))]);
        self.send_typed(self.databus_rt(Method::DELETE, &path, result_table_id, p))
            .await
    }

    /// The latest records of a raw data, as ingested.
    pub async fn get_raw_data_tail(&self, raw_data_id: i64) -> Result<Value, Error> {
        let path = format!("rawdatas/{raw_data_id}/tail/");
        self.send(self.databus(Method::GET, &path, json!({}))).await
    }

    pub async fn get_result_table(&self, result_table_id: &str) -> Result<ResultTableInfo, Error> {
        let path = format!("result_tables/{result_table_id}/");
        self.send_typed(self.databus_rt(Method::GET, &path, result_table_id, json!({})))
            .await
    }

    /// The latest rows of a result table (objects with its fields and time columns).
    pub async fn get_result_table_tail(&self, result_table_id: &str) -> Result<Value, Error> {
        let path = format!("result_tables/{result_table_id}/tail/");
        self.send(self.databus_rt(Method::GET, &path, result_table_id, json!({})))
            .await
    }

    /// POST access `rawdata/` (`{bk_biz_id, raw_data_name, …}`).
    pub async fn create_raw_data(&self, body: &RawDataRequest) -> Result<RawDataInfo, Error> {
        let url = Self::url(&self.inner.roots.access, "rawdata/");
        self.send_typed(Call::new(Method::POST, url, json!(body)))
            .await
    }

    /// POST `rawdatas/{id}/ingest/`: records, one a line (NDJSON or raw log lines).
    pub async fn ingest(&self, raw_data_id: i64, lines: Vec<u8>) -> Result<Value, Error> {
        let url = Self::url(
            &self.inner.roots.databus_v3,
            &format!("rawdatas/{raw_data_id}/ingest/"),
        );
        self.send_raw(
            Method::POST,
            url,
            lines,
            "application/x-ndjson",
            super::Envelope::BkData,
        )
        .await
    }

    /// POST meta `projects/` (`{project_name, bk_biz_id}`).
    pub async fn create_project(&self, body: &ProjectRequest) -> Result<ProjectInfo, Error> {
        let url = Self::url(&self.inner.roots.meta, "projects/");
        self.send_typed(Call::new(Method::POST, url, json!(body)))
            .await
    }

    /// POST meta `projects/{id}/data/add/` (`{bk_biz_id, result_table_id}`).
    pub async fn grant_project_data(
        &self,
        project_id: i64,
        body: &GrantRequest,
    ) -> Result<Value, Error> {
        let url = Self::url(
            &self.inner.roots.meta,
            &format!("projects/{project_id}/data/add/"),
        );
        self.send(Call::new(Method::POST, url, json!(body))).await
    }

    /// POST storekit `clusters/` (`{cluster_name, cluster_type, connection_info}`).
    pub async fn create_storage_cluster(
        &self,
        body: &ClusterRequest,
    ) -> Result<ClusterInfo, Error> {
        let url = Self::url(&self.inner.roots.storekit, "clusters/");
        self.send_typed(Call::new(Method::POST, url, json!(body)))
            .await
    }

    /// POST dataquery `query/`: read-only SQL over result tables.
    pub async fn query(&self, req: &QueryRequest) -> Result<QueryResult, Error> {
        let url = Self::url(&self.inner.roots.dataquery, "query/");
        self.send_typed(Call::new(Method::POST, url, json!(req)))
            .await
    }
}

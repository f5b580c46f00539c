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

    /// POST queryengine `query_sync/` (bklog's `BkDataQueryApi.query`): read-only SQL over
    /// result tables.
    pub async fn query(&self, req: &QueryRequest) -> Result<QueryResult, Error> {
        let url = Self::url(&self.inner.roots.queryengine, "query_sync/");
        self.send_typed(Call::new(Method::POST, url, json!(req)))
            .await
    }

    /// POST dataquery `query/`: the older root of the same query.
    pub async fn dataquery_query(&self, req: &QueryRequest) -> Result<QueryResult, Error> {
        let url = Self::url(&self.inner.roots.dataquery, "query/");
        self.send_typed(Call::new(Method::POST, url, json!(req)))
            .await
    }

    /// An Elasticsearch search through `query_sync/` as bklog's `QueryClientBkData.query`
    /// sends it: `prefer_storage: "es"`, `sql` = `{index, body}`. Answers `data`; the
    /// search answer is its `list`.
    pub async fn es_query(&self, index: &str, body: &Value) -> Result<Value, Error> {
        let sql = json!({"index": index, "body": body}).to_string();
        let url = Self::url(&self.inner.roots.queryengine, "query_sync/");
        self.send(Call::new(
            Method::POST,
            url,
            json!({"prefer_storage": "es", "sql": sql}),
        ))
        .await
    }

    /// The mappings of indices (`sql` = `{index, mapping: true}`), as bklog's `mapping`.
    pub async fn es_mapping(&self, index: &str) -> Result<Value, Error> {
        let sql = json!({"index": index, "mapping": true}).to_string();
        let url = Self::url(&self.inner.roots.queryengine, "query_sync/");
        self.send(Call::new(
            Method::POST,
            url,
            json!({"prefer_storage": "es", "sql": sql}),
        ))
        .await
    }

    fn access(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(method, Self::url(&self.inner.roots.access, path), p)
    }

    /// GET access `rawdata/` (`bk_biz_id` filter).
    pub async fn list_raw_data(&self, filters: Value) -> Result<Vec<RawDataInfo>, Error> {
        self.send_typed(self.access(Method::GET, "rawdata/", filters))
            .await
    }

    /// GET access `deploy_plan/{raw_data_id}/`: `Error::Api` with code 1500004 when the raw
    /// data is not registered (bklog then registers it).
    pub async fn get_deploy_summary(
        &self,
        raw_data_id: i64,
        bk_biz_id: Option<i64>,
    ) -> Result<DeployPlanInfo, Error> {
        let p = params(&[("bk_biz_id", bk_biz_id.map(Value::from))]);
        self.send_typed(self.access(Method::GET, &format!("deploy_plan/{raw_data_id}/"), p))
            .await
    }

    /// POST access `deploy_plan/`: BKData's access shape, with
    /// `access_raw_data.preassigned_data_id` when the id is the caller's to keep.
    pub async fn deploy_plan_post(&self, body: &RawDataRequest) -> Result<RawDataInfo, Error> {
        self.send_typed(self.access(Method::POST, "deploy_plan/", json!(body)))
            .await
    }

    /// PUT access `deploy_plan/{raw_data_id}/`; answers `{raw_data_id}`.
    pub async fn deploy_plan_put(
        &self,
        raw_data_id: i64,
        body: &RawDataRequest,
    ) -> Result<Value, Error> {
        let mut p = json!(body);
        p["raw_data_id"] = json!(raw_data_id);
        self.send(self.access(Method::PUT, &format!("deploy_plan/{raw_data_id}/"), p))
            .await
    }

    /// POST access `collectorhub/{raw_data_id}/stop/`: ingest is refused until started.
    pub async fn stop_collectorhub(&self, raw_data_id: i64) -> Result<Value, Error> {
        let p = json!({"raw_data_id": raw_data_id});
        self.send(self.access(
            Method::POST,
            &format!("collectorhub/{raw_data_id}/stop/"),
            p,
        ))
        .await
    }

    /// POST access `collectorhub/{raw_data_id}/start/`.
    pub async fn start_collectorhub(&self, raw_data_id: i64) -> Result<Value, Error> {
        let p = json!({"raw_data_id": raw_data_id});
        self.send(self.access(
            Method::POST,
            &format!("collectorhub/{raw_data_id}/start/"),
            p,
        ))
        .await
    }

    fn meta_rt(&self, path: &str, p: Value) -> Call {
        Call::new(Method::GET, Self::url(&self.inner.roots.meta, path), p)
    }

    /// GET meta `result_tables/` (bklog's `result_tables.list`): filters such as `bk_biz_id`,
    /// `project_id`, `result_table_ids`, `related` (`["fields", "storages"]`),
    /// `related_filter`, `page`, `page_size`.
    pub async fn result_tables_list(&self, filters: Value) -> Result<Vec<Value>, Error> {
        self.send_typed(self.meta_rt("result_tables/", filters))
            .await
    }

    /// GET meta `result_tables/mine/`: the tables the caller manages.
    pub async fn result_tables_mine(&self, filters: Value) -> Result<Vec<Value>, Error> {
        self.send_typed(self.meta_rt("result_tables/mine/", filters))
            .await
    }

    /// GET meta `result_tables/{rt}/` with `related` (e.g. `["fields", "storages"]`).
    pub async fn result_tables_retrieve(
        &self,
        result_table_id: &str,
        related: &[&str],
    ) -> Result<Value, Error> {
        let p = json!({"related": related});
        self.send(
            self.meta_rt(&format!("result_tables/{result_table_id}/"), p)
                .tenant(Tenant::FromTable(result_table_id.to_string())),
        )
        .await
    }

    /// GET meta `result_tables/{rt}/fields/`.
    pub async fn result_tables_fields(&self, result_table_id: &str) -> Result<Vec<Value>, Error> {
        self.send_typed(
            self.meta_rt(
                &format!("result_tables/{result_table_id}/fields/"),
                json!({}),
            )
            .tenant(Tenant::FromTable(result_table_id.to_string())),
        )
        .await
    }

    /// GET meta `result_tables/{rt}/storages/`: `{storage_type: {storage_cluster, …}}`.
    pub async fn result_tables_storages(&self, result_table_id: &str) -> Result<Value, Error> {
        self.send(
            self.meta_rt(
                &format!("result_tables/{result_table_id}/storages/"),
                json!({}),
            )
            .tenant(Tenant::FromTable(result_table_id.to_string())),
        )
        .await
    }
}

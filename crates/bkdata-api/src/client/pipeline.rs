//! The data pipeline API of seed 002 (`/api/v0/data_pipeline/`), typed with the server's own
//! request and response shapes.
use super::{typed, BkDataClient, Call, Envelope, Error};
use crate::pipeline::*;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

impl BkDataClient {
    async fn pipeline<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<T, Error> {
        let url = Self::url(&self.inner.roots.pipeline, path);
        let mut c = Call::new(method, url.clone(), body);
        c.envelope = Envelope::Pipeline;
        typed(&url, self.send(c).await?)
    }

    pub async fn create_task(&self, req: &CreateTaskRequest) -> Result<CreateTaskResponse, Error> {
        self.pipeline(Method::POST, "tasks", json!(req)).await
    }

    pub async fn get_task(&self, task_id: &str) -> Result<TaskStatus, Error> {
        self.pipeline(Method::GET, &format!("tasks/{task_id}"), json!({}))
            .await
    }

    /// `filters`: `status`, `limit`, … as the API takes them.
    pub async fn list_tasks(&self, filters: Value) -> Result<TaskList, Error> {
        self.pipeline(Method::GET, "tasks", filters).await
    }

    pub async fn execute_task(
        &self,
        task_id: &str,
        req: &ExecuteRequest,
    ) -> Result<ExecuteResponse, Error> {
        self.pipeline(
            Method::POST,
            &format!("tasks/{task_id}/execute"),
            json!(req),
        )
        .await
    }

    pub async fn cancel_task(&self, task_id: &str) -> Result<Value, Error> {
        self.pipeline(Method::POST, &format!("tasks/{task_id}/cancel"), json!({}))
            .await
    }

    pub async fn get_executions(&self, task_id: &str) -> Result<ExecutionList, Error> {
        self.pipeline(
            Method::GET,
            &format!("tasks/{task_id}/executions"),
            json!({}),
        )
        .await
    }

    /// `filters`: `level`, `step_name`, `limit`, … as the API takes them.
    pub async fn get_task_logs(&self, task_id: &str, filters: Value) -> Result<LogList, Error> {
        self.pipeline(Method::GET, &format!("tasks/{task_id}/logs"), filters)
            .await
    }

    pub async fn list_task_files(&self, task_id: &str) -> Result<FileList, Error> {
        self.pipeline(Method::GET, &format!("tasks/{task_id}/files"), json!({}))
            .await
    }

    pub async fn archive_task_files(
        &self,
        task_id: &str,
        req: &ArchiveRequest,
    ) -> Result<ArchiveResponse, Error> {
        self.pipeline(
            Method::POST,
            &format!("tasks/{task_id}/files/archive"),
            json!(req),
        )
        .await
    }

    pub async fn task_files_integrity(&self, task_id: &str) -> Result<IntegrityReport, Error> {
        self.pipeline(
            Method::GET,
            &format!("tasks/{task_id}/files/integrity"),
            json!({}),
        )
        .await
    }

    /// A file of the task folder, as bytes.
    pub async fn download_task_file(
        &self,
        task_id: &str,
        file_name: &str,
    ) -> Result<Vec<u8>, Error> {
        let url = Self::url(
            &self.inner.roots.pipeline,
            &format!("tasks/{task_id}/files/{file_name}"),
        );
        self.get_bytes(url).await
    }

    /// Upload a task's table list (one `schema.table` a line) into its folder.
    pub async fn upload_table_list(
        &self,
        task_id: &str,
        text: &str,
    ) -> Result<UploadResponse, Error> {
        let url = Self::url(
            &self.inner.roots.pipeline,
            &format!("tasks/{task_id}/upload-table-list"),
        );
        let v = self
            .send_raw(
                Method::POST,
                url.clone(),
                text.as_bytes().to_vec(),
                "text/plain; charset=utf-8",
                Envelope::Pipeline,
            )
            .await?;
        typed(&url, v)
    }

    /// The training items closest to `q` (`data_type`: ddl, documentation or sql).
    pub async fn search_training_data(
        &self,
        q: &str,
        data_type: Option<&str>,
        limit: Option<u32>,
    ) -> Result<TrainingSearch, Error> {
        let mut p = json!({"q": q});
        if let Some(t) = data_type {
            p["type"] = json!(t);
        }
        if let Some(l) = limit {
            p["limit"] = json!(l);
        }
        self.pipeline(Method::GET, "training_data", p).await
    }

    /// The business databases a task may name.
    pub async fn list_business_databases(&self) -> Result<BusinessDatabaseList, Error> {
        self.pipeline(Method::GET, "databases", json!({})).await
    }
}

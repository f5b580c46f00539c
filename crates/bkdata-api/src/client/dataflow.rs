//! Dataflow calls (bklog's `BkDataDataFlowApi` names, wire reference §1.3), typed with the
//! shapes the server answers in (`crate::dataflow`). Not cached.
use super::{BkDataClient, Call, Error, Tenant};
use crate::dataflow::*;
use reqwest::Method;
use serde_json::{json, Value};

impl BkDataClient {
    fn flows(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(
            method,
            Self::url(&self.inner.roots.dataflow, &format!("flow/flows/{path}")),
            p,
        )
    }

    /// POST `create/` (`{project_id, flow_name, nodes}` → `{flow_id, node_ids}`); 300 s.
    pub async fn create_flow(&self, req: &CreateFlowRequest) -> Result<CreateFlowResponse, Error> {
        let mut c = self.flows(Method::POST, "create/", json!(req));
        c.timeout = Some(self.inner.create_flow_timeout);
        self.send_typed(c).await
    }

    /// POST `{fid}/start/` (`{consuming_mode, cluster_group}` → `{task_id}`).
    pub async fn start_flow(&self, flow_id: i64, req: &DeployRequest) -> Result<DeployTask, Error> {
        self.send_typed(self.flows(Method::POST, &format!("{flow_id}/start/"), json!(req)))
            .await
    }

    pub async fn stop_flow(&self, flow_id: i64) -> Result<DeployTask, Error> {
        self.send_typed(self.flows(Method::POST, &format!("{flow_id}/stop/"), json!({})))
            .await
    }

    pub async fn restart_flow(
        &self,
        flow_id: i64,
        req: &DeployRequest,
    ) -> Result<DeployTask, Error> {
        self.send_typed(self.flows(Method::POST, &format!("{flow_id}/restart/"), json!(req)))
            .await
    }

    pub async fn get_flow_graph(&self, flow_id: i64) -> Result<FlowGraph, Error> {
        self.send_typed(self.flows(Method::GET, &format!("{flow_id}/graph/"), json!({})))
            .await
    }

    pub async fn get_dataflow(&self, flow_id: i64) -> Result<FlowInfo, Error> {
        self.send_typed(self.flows(Method::GET, &format!("{flow_id}/"), json!({})))
            .await
    }

    /// GET `{fid}/latest_deploy_data/`: `None` before the first start.
    pub async fn get_latest_deploy_data(&self, flow_id: i64) -> Result<Option<DeployData>, Error> {
        self.send_typed(self.flows(
            Method::GET,
            &format!("{flow_id}/latest_deploy_data/"),
            json!({}),
        ))
        .await
    }

    /// POST `{fid}/nodes/` (bklog's `{config, from_links, …}`); the tenant of `config.bk_biz_id`.
    pub async fn add_flow_nodes(&self, flow_id: i64, body: Value) -> Result<NodeRef, Error> {
        let biz = body["config"]["bk_biz_id"].clone();
        let mut c = self.flows(Method::POST, &format!("{flow_id}/nodes/"), body);
        if let Some(b) = biz
            .as_i64()
            .or_else(|| biz.as_str().and_then(|s| s.parse().ok()))
        {
            c = c.tenant(Tenant::FromTable(format!("{b}_")));
        }
        self.send_typed(c).await
    }

    /// PATCH `{fid}/nodes/{nid}/` with part of a node's config.
    pub async fn patch_flow_nodes(
        &self,
        flow_id: i64,
        node_id: i64,
        body: Value,
    ) -> Result<NodeRef, Error> {
        self.send_typed(self.flows(Method::PATCH, &format!("{flow_id}/nodes/{node_id}/"), body))
            .await
    }

    /// GET `{fid}/export/`: a create body.
    pub async fn export_flow(&self, flow_id: i64) -> Result<CreateFlowRequest, Error> {
        self.send_typed(self.flows(Method::GET, &format!("{flow_id}/export/"), json!({})))
            .await
    }

    /// GET `flow/flows/` (`project_id` filter).
    pub async fn list_flows(&self, project_id: Option<i64>) -> Result<Vec<FlowInfo>, Error> {
        let p = match project_id {
            Some(p) => json!({"project_id": p}),
            None => json!({}),
        };
        self.send_typed(self.flows(Method::GET, "", p)).await
    }

    /// GET `{fid}/deploy_data/`: every deploy, newest first.
    pub async fn get_deploy_data(&self, flow_id: i64) -> Result<Vec<DeployData>, Error> {
        self.send_typed(self.flows(Method::GET, &format!("{flow_id}/deploy_data/"), json!({})))
            .await
    }

    pub async fn delete_flow(&self, flow_id: i64) -> Result<Value, Error> {
        self.send(self.flows(Method::DELETE, &format!("{flow_id}/"), json!({})))
            .await
    }

    /// POST `flow/flows/` (bk-monitor's `create_data_flow`): the same create at BKData's
    /// other path.
    pub async fn create_data_flow(
        &self,
        req: &CreateFlowRequest,
    ) -> Result<CreateFlowResponse, Error> {
        let url = Self::url(&self.inner.roots.dataflow, "flow/flows/");
        let mut c = Call::new(Method::POST, url, json!(req));
        c.timeout = Some(self.inner.create_flow_timeout);
        self.send_typed(c).await
    }

    /// POST `tool/job/set_resource/` (`{flow_id, usage_type, input_count_peak_min, bk_biz_id}`).
    pub async fn set_dataflow_resource(&self, body: Value) -> Result<Value, Error> {
        let url = Self::url(&self.inner.roots.dataflow, "tool/job/set_resource/");
        self.send(Call::new(Method::POST, url, body)).await
    }

    /// GET `{fid}/monitor_data/`: per node `data_loss_io_total` (input, output) and
    /// `rt_status`; `monitor_type` picks (comma-separated).
    pub async fn get_flow_monitor_data(
        &self,
        flow_id: i64,
        monitor_type: Option<&str>,
    ) -> Result<Value, Error> {
        let p = super::params(&[("monitor_type", monitor_type.map(Value::from))]);
        self.send(self.flows(Method::GET, &format!("{flow_id}/monitor_data/"), p))
            .await
    }

    /// GET `{fid}/nodes/{nid}/monitor_data/`.
    pub async fn get_node_monitor_data(
        &self,
        flow_id: i64,
        node_id: i64,
        monitor_type: Option<&str>,
    ) -> Result<Value, Error> {
        let p = super::params(&[("monitor_type", monitor_type.map(Value::from))]);
        self.send(self.flows(
            Method::GET,
            &format!("{flow_id}/nodes/{node_id}/monitor_data/"),
            p,
        ))
        .await
    }

    /// GET `{fid}/versions/draft/?add_node_running_info=1` (bk-monitor's
    /// `get_data_flow_running_info`): `locations` with each node's `status`.
    pub async fn get_data_flow_running_info(&self, flow_id: i64) -> Result<Value, Error> {
        self.send(self.flows(
            Method::GET,
            &format!("{flow_id}/versions/draft/"),
            json!({"add_node_running_info": 1}),
        ))
        .await
    }
}

//! Auth calls (bklog's `BkDataAuthApi` names; bk-monitor's `auth_result_table`,
//! `auth_projects_data_check`, `auth_tickets`).
use super::{BkDataClient, Call, Error};
use crate::auth::{TokenCheckRequest, TokenInfo, TokenRequest};
use reqwest::Method;
use serde_json::{json, Value};

impl BkDataClient {
    fn auth_call(&self, method: Method, path: &str, p: Value) -> Call {
        Call::new(method, Self::url(&self.inner.roots.auth, path), p)
    }

    /// POST `users/{user_id}/check/`: may the user do `action_id` on `object_id`?
    pub async fn check_user_perm(
        &self,
        user_id: &str,
        action_id: &str,
        object_id: &str,
    ) -> Result<bool, Error> {
        let p = json!({"action_id": action_id, "object_id": object_id});
        self.send_typed(self.auth_call(Method::POST, &format!("users/{user_id}/check/"), p))
            .await
    }

    /// GET `users/{user_id}/scopes/?action_id=…`: `[{"result_table_id": …}, …]`.
    pub async fn get_user_perm_scope(
        &self,
        user_id: &str,
        action_id: &str,
    ) -> Result<Vec<Value>, Error> {
        let p = json!({"action_id": action_id, "show_admin_scopes": true});
        self.send_typed(self.auth_call(Method::GET, &format!("users/{user_id}/scopes/"), p))
            .await
    }

    /// POST `tokens/`: a new data token, in plain text (shown this once).
    pub async fn create_auth_token(&self, body: &TokenRequest) -> Result<String, Error> {
        self.send_typed(self.auth_call(Method::POST, "tokens/", json!(body)))
            .await
    }

    /// GET `tokens/{token_id}/`: the token (masked) and its permissions.
    pub async fn get_auth_token(&self, token_id: i64) -> Result<TokenInfo, Error> {
        self.send_typed(self.auth_call(Method::GET, &format!("tokens/{token_id}/"), json!({})))
            .await
    }

    /// PUT `tokens/{token_id}/`: add permissions.
    pub async fn update_auth_token(
        &self,
        token_id: i64,
        body: &TokenRequest,
    ) -> Result<TokenInfo, Error> {
        self.send_typed(self.auth_call(Method::PUT, &format!("tokens/{token_id}/"), json!(body)))
            .await
    }

    /// POST `tokens/check/`.
    pub async fn check_auth_token(&self, body: &TokenCheckRequest) -> Result<bool, Error> {
        self.send_typed(self.auth_call(Method::POST, "tokens/check/", json!(body)))
            .await
    }

    /// POST `projects/{project_id}/data/add/` with bklog's `{bk_biz_id, object_id, project_id}`.
    pub async fn add_project_data(
        &self,
        project_id: i64,
        bk_biz_id: i64,
        object_id: &str,
    ) -> Result<Value, Error> {
        let p = json!({"bk_biz_id": bk_biz_id, "object_id": object_id, "project_id": project_id});
        self.send(self.auth_call(Method::POST, &format!("projects/{project_id}/data/add/"), p))
            .await
    }

    /// POST `projects/{project_id}/data/check/` (bk-monitor): may the project read the table?
    pub async fn auth_projects_data_check(
        &self,
        project_id: i64,
        result_table_id: &str,
    ) -> Result<bool, Error> {
        let p = json!({"project_id": project_id, "result_table_id": result_table_id,
            "action_id": "result_table.query_data"});
        self.send_typed(self.auth_call(
            Method::POST,
            &format!("projects/{project_id}/data/check/"),
            p,
        ))
        .await
    }

    /// POST `projects/{project_id}/cluster_group/`.
    pub async fn add_cluster_group(
        &self,
        project_id: i64,
        cluster_group_id: &str,
    ) -> Result<Value, Error> {
        let p = json!({"project_id": project_id, "cluster_group_id": cluster_group_id});
        self.send(self.auth_call(
            Method::POST,
            &format!("projects/{project_id}/cluster_group/"),
            p,
        ))
        .await
    }

    /// POST `tickets/` (bk-monitor's `auth_tickets`): `{ticket_type, permissions, reason}`.
    pub async fn auth_tickets(&self, body: Value) -> Result<Value, Error> {
        self.send(self.auth_call(Method::POST, "tickets/", body))
            .await
    }
}

//! Auth shapes (`/v3/auth/…`, wire reference §1.4): data tokens and their permissions, as
//! bklog's `BkDataAuthApi` sends and reads them.
use crate::dataflow::{id, opt_id};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One permission of a data scope: an action on one object, e.g.
/// `{"action_id": "result_table.query_data", "object_class": "result_table",
///   "scope_id_key": "result_table_id", "scope_object_class": "result_table",
///   "scope": {"result_table_id": "591_nginx"}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ScopePermission {
    pub action_id: String,
    pub object_class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_id_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_name_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_object_class: Option<String>,
    pub scope: Value,
}

impl ScopePermission {
    /// `result_table.query_data` on one result table.
    pub fn query_result_table(result_table_id: &str) -> Self {
        ScopePermission {
            action_id: "result_table.query_data".into(),
            object_class: "result_table".into(),
            scope_id_key: Some("result_table_id".into()),
            scope_name_key: None,
            scope_object_class: Some("result_table".into()),
            scope: serde_json::json!({ "result_table_id": result_table_id }),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataScope {
    /// Every object: not granted here (say which objects).
    pub is_all: bool,
    pub permissions: Vec<ScopePermission>,
}

/// POST `auth/tokens/` and PUT `auth/tokens/{id}/` (which adds permissions).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenRequest {
    /// The app that will present the token.
    pub data_token_bk_app_code: String,
    pub data_scope: DataScope,
    pub reason: String,
    /// Days until it expires (BKData offers 7, 30, 90, 365; -1 never).
    #[serde(deserialize_with = "opt_id", skip_serializing_if = "Option::is_none")]
    pub expire: Option<i64>,
}

/// A permission of a token, as retrieved.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenPermissionInfo {
    #[serde(deserialize_with = "id")]
    pub id: i64,
    pub action_id: String,
    pub object_class: String,
    pub scope_id_key: String,
    pub scope_object_class: String,
    pub scope: Value,
    /// `active` (only active permissions are granted here; nothing waits for approval).
    pub status: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
}

/// GET `auth/tokens/{id}/`: the token masked (`ul60********z36z`) and its permissions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenInfo {
    #[serde(deserialize_with = "id")]
    pub id: i64,
    pub data_token: String,
    pub data_token_bk_app_code: String,
    /// `enabled`, `disabled` or `expired`.
    pub status: String,
    pub status_display: String,
    pub description: String,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_by: String,
    pub updated_at: Option<String>,
    pub expired_at: Option<String>,
    /// Expires within 14 days.
    pub expired_nearly: bool,
    pub permissions: Vec<TokenPermissionInfo>,
}

/// POST `auth/tokens/check/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TokenCheckRequest {
    pub check_app_code: String,
    pub check_data_token: String,
    pub action_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
}

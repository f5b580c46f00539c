//! Who may do what (`/v3/auth/…`): the one rule for reading a result table, data tokens
//! (create, add permissions, retrieve, check, present), and a user's scopes.
//!
//! Permissions belong to apps, not to users: a user of an app may do what the app may do
//! (the app owns what it created and reads what is granted to its projects). A data token
//! narrows that to the actions and objects it lists, whatever the presenting app owns.
use crate::error::DatabusError;
use crate::projects;
use crate::rawdata::bk_time;
use bkdata_api::auth::{
    ScopePermission, TokenCheckRequest, TokenInfo, TokenPermissionInfo, TokenRequest,
};
use bkdata_models::auth::{Caller, TokenGrant};
use bkdata_models::databus::{Project, ResultTable};
use bkdata_models::schema::{projects as p, raw_datas as rd, result_tables as rt};
use bkdata_models::tokens::{self, DataToken, NewPermission};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

pub const QUERY_DATA: &str = "result_table.query_data";
/// The actions a token may hold, all on result tables.
pub const TOKEN_ACTIONS: [&str; 3] = [
    QUERY_DATA,
    "result_table.retrieve",
    "result_table.query_queue",
];

/// What a caller wants to do with a result table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Access {
    /// Its metadata (fields, storages).
    Read,
    /// Its data (the query API).
    Query,
    /// Change it or grant it on.
    Manage,
}

/// What a token lets its holder do with result table `id`: read it with any permission on
/// it, query it with `query_data`, never manage it.
fn token_may(g: &TokenGrant, access: Access, id: &str) -> bool {
    match access {
        Access::Read => g.touches("result_table", id),
        Access::Query => g.allows(QUERY_DATA, "result_table", id),
        Access::Manage => false,
    }
}

/// The result table if the caller may `access` it; `None` when it does not exist or not for
/// this caller (the two are not told apart, so ids cannot be probed).
pub fn result_table(
    conn: &mut PgConnection,
    caller: &Caller,
    id: &str,
    access: Access,
) -> Result<Option<ResultTable>, DatabusError> {
    let t: Option<ResultTable> = rt::table
        .find(id)
        .select(ResultTable::as_select())
        .first(conn)
        .optional()?;
    let Some(t) = t else { return Ok(None) };
    if let Some(g) = &caller.token {
        return Ok(token_may(g, access, id).then_some(t));
    }
    if t.bk_app_code == caller.app_code {
        return Ok(Some(t));
    }
    if access == Access::Manage {
        return Ok(None);
    }
    for project in caller_projects(conn, caller)? {
        if projects::readable(conn, &project, id)?.is_some() {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Every result table the caller may `access`, by id.
pub fn result_tables(
    conn: &mut PgConnection,
    caller: &Caller,
    access: Access,
) -> Result<Vec<ResultTable>, DatabusError> {
    let all: Vec<ResultTable> = rt::table
        .order(rt::result_table_id)
        .select(ResultTable::as_select())
        .load(conn)?;
    if let Some(g) = &caller.token {
        return Ok(all
            .into_iter()
            .filter(|t| token_may(g, access, &t.result_table_id))
            .collect());
    }
    let projects = if access == Access::Manage {
        Vec::new()
    } else {
        caller_projects(conn, caller)?
    };
    let granted: std::collections::HashSet<String> = {
        use bkdata_models::schema::project_data as pd;
        let ids: Vec<i64> = projects.iter().map(|p| p.project_id).collect();
        pd::table
            .filter(pd::project_id.eq_any(&ids))
            .select(pd::result_table_id)
            .load(conn)?
            .into_iter()
            .collect()
    };
    let bizs: Vec<i64> = projects.iter().filter_map(|p| p.bk_biz_id).collect();
    Ok(all
        .into_iter()
        .filter(|t| {
            t.bk_app_code == caller.app_code
                || granted.contains(&t.result_table_id)
                || bizs.contains(&t.bk_biz_id)
        })
        .collect())
}

fn caller_projects(conn: &mut PgConnection, caller: &Caller) -> Result<Vec<Project>, DatabusError> {
    Ok(p::table
        .filter(p::bk_app_code.eq(&caller.app_code))
        .select(Project::as_select())
        .load(conn)?)
}

fn denied(code: &'static str, message: impl Into<String>) -> DatabusError {
    DatabusError::Denied {
        code,
        message: message.into(),
    }
}

/// The permissions of a token request, checked: known actions on result tables the caller
/// may grant (it can read them).
fn checked_permissions(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &TokenRequest,
) -> Result<Vec<NewPermission>, DatabusError> {
    if req.data_scope.is_all {
        return Err(denied(
            "1511205",
            "a token for every object (data_scope.is_all) is not granted: list the objects",
        ));
    }
    let mut out = Vec::new();
    for (i, perm) in req.data_scope.permissions.iter().enumerate() {
        out.push(checked_permission(conn, caller, perm).map_err(|e| match e {
            DatabusError::Denied { code, message } => DatabusError::Denied {
                code,
                message: format!("data_scope.permissions[{i}]: {message}"),
            },
            other => other,
        })?);
    }
    Ok(out)
}

fn checked_permission(
    conn: &mut PgConnection,
    caller: &Caller,
    perm: &ScopePermission,
) -> Result<NewPermission, DatabusError> {
    if !TOKEN_ACTIONS.contains(&perm.action_id.as_str()) {
        return Err(denied(
            "1511111",
            format!(
                "action {:?} cannot be granted to a token: use one of {}",
                perm.action_id,
                TOKEN_ACTIONS.join(", ")
            ),
        ));
    }
    let scope_class = perm.scope_object_class.as_deref().unwrap_or("result_table");
    if perm.object_class != "result_table" || scope_class != perm.object_class {
        return Err(denied(
            "1511205",
            format!(
                "object_class and scope_object_class must both be result_table for {}",
                perm.action_id
            ),
        ));
    }
    let key = perm.scope_id_key.as_deref().unwrap_or("result_table_id");
    let Some(id) = perm.scope.get(key).and_then(Value::as_str) else {
        return Err(denied(
            "1511204",
            format!("scope.{key} is required (a result table id)"),
        ));
    };
    if result_table(conn, caller, id, Access::Read)?.is_none() {
        return Err(denied(
            "1511116",
            format!("result table {id} does not exist or you may not grant it"),
        ));
    }
    Ok(NewPermission {
        action_id: perm.action_id.clone(),
        object_class: perm.object_class.clone(),
        scope_id_key: key.to_string(),
        scope_object_class: scope_class.to_string(),
        scope_id: id.to_string(),
        scope: json!({ key: id }),
    })
}

/// POST `auth/tokens/`: a new token, answered once in plain text.
pub fn create_token(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &TokenRequest,
) -> Result<(String, DataToken), DatabusError> {
    let app = req.data_token_bk_app_code.trim();
    if app.is_empty() {
        return Err(DatabusError::field(
            "data_token_bk_app_code",
            "data_token_bk_app_code is required: the app that will present the token",
        ));
    }
    if bkdata_models::auth::find_app(conn, app)?.is_none() {
        return Err(DatabusError::field(
            "data_token_bk_app_code",
            format!("app {app:?} does not exist"),
        ));
    }
    let days = match req.expire.unwrap_or(7) {
        -1 => 365 * 100,
        d @ 1..=3650 => d,
        d => {
            return Err(DatabusError::field(
                "expire",
                format!("expire must be a number of days from 1 to 3650 (or -1), not {d}"),
            ))
        }
    };
    let perms = checked_permissions(conn, caller, req)?;
    let token = tokens::generate();
    let row = tokens::insert(
        conn,
        &token,
        app,
        &caller.app_code,
        &caller.username,
        &req.reason,
        Utc::now() + Duration::days(days),
        &perms,
    )?;
    Ok((token, row))
}

/// The token if the caller may see it: the app that created it, or the token itself.
fn visible_token(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
) -> Result<DataToken, DatabusError> {
    let t = tokens::get(conn, id)?;
    match t {
        Some(t)
            if t.bk_app_code == caller.app_code
                || caller.token.as_ref().is_some_and(|g| g.token_id == t.id) =>
        {
            Ok(t)
        }
        _ => Err(denied("1511201", format!("data token {id} does not exist"))),
    }
}

/// PUT `auth/tokens/{id}/`: add the request's permissions (as BKData does: held ones stay).
pub fn update_token(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
    req: &TokenRequest,
) -> Result<TokenInfo, DatabusError> {
    let t = visible_token(conn, caller, id)?;
    if caller.token.is_some() {
        return Err(DatabusError::denied(
            "a data token cannot change itself: call as the app that created it",
        ));
    }
    let perms = checked_permissions(conn, caller, req)?;
    tokens::add_permissions(conn, t.id, &caller.username, &perms)?;
    retrieve_token(conn, caller, id)
}

fn status_of(t: &DataToken) -> &str {
    if t.status == "enabled" && t.expired_at <= Utc::now() {
        "expired"
    } else {
        &t.status
    }
}

fn token_view(t: &DataToken, perms: Vec<tokens::DataTokenPermission>) -> TokenInfo {
    let status = status_of(t).to_string();
    TokenInfo {
        id: t.id,
        data_token: t.token_masked.clone(),
        data_token_bk_app_code: t.data_token_bk_app_code.clone(),
        status_display: match status.as_str() {
            "enabled" => "已启用",
            "expired" => "已过期",
            _ => "已禁用",
        }
        .to_string(),
        status,
        description: t.description.clone(),
        created_by: t.created_by.clone(),
        created_at: Some(bk_time(t.created_at)),
        updated_by: t.updated_by.clone(),
        updated_at: Some(bk_time(t.updated_at)),
        expired_at: Some(bk_time(t.expired_at)),
        expired_nearly: t.expired_at - Utc::now() < Duration::days(14),
        permissions: perms
            .into_iter()
            .map(|p| TokenPermissionInfo {
                id: p.id,
                action_id: p.action_id,
                object_class: p.object_class,
                scope_id_key: p.scope_id_key,
                scope_object_class: p.scope_object_class,
                scope: p.scope,
                status: p.status,
                created_by: p.created_by,
                created_at: Some(bk_time(p.created_at)),
                updated_by: p.updated_by,
                updated_at: Some(bk_time(p.updated_at)),
            })
            .collect(),
    }
}

/// GET `auth/tokens/{id}/`.
pub fn retrieve_token(
    conn: &mut PgConnection,
    caller: &Caller,
    id: i64,
) -> Result<TokenInfo, DatabusError> {
    let t = visible_token(conn, caller, id)?;
    let perms = tokens::permissions(conn, t.id)?;
    Ok(token_view(&t, perms))
}

/// GET `auth/tokens/`: the tokens the caller's app created.
pub fn list_tokens(
    conn: &mut PgConnection,
    caller: &Caller,
) -> Result<Vec<TokenInfo>, DatabusError> {
    let rows = tokens::list(conn, &caller.app_code)?;
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let perms = tokens::permissions(conn, t.id)?;
        out.push(token_view(&t, perms));
    }
    Ok(out)
}

/// A presented token: what it grants, or why it is refused.
pub fn present_token(
    conn: &mut PgConnection,
    app_code: &str,
    token: &str,
) -> Result<TokenGrant, DatabusError> {
    let Some(t) = tokens::find_by_token(conn, token)? else {
        return Err(denied(
            "1511005",
            "the data token (bkdata_data_token) is not valid",
        ));
    };
    if t.data_token_bk_app_code != app_code {
        return Err(denied(
            "1511707",
            format!(
                "this data token is for app {:?}, not {app_code:?}",
                t.data_token_bk_app_code
            ),
        ));
    }
    match status_of(&t) {
        "enabled" => Ok(tokens::grant(conn, &t)?),
        "expired" => Err(denied(
            "1511203",
            format!("data token {} has expired", t.id),
        )),
        _ => Err(denied(
            "1511206",
            format!("data token {} is disabled", t.id),
        )),
    }
}

/// POST `auth/tokens/check/`: whether a token grants an action (on an object).
pub fn check_token(conn: &mut PgConnection, req: &TokenCheckRequest) -> Result<bool, DatabusError> {
    let grant = match present_token(conn, &req.check_app_code, &req.check_data_token) {
        Ok(g) => g,
        Err(DatabusError::Denied { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(match &req.object_id {
        Some(id) => grant.allows(&req.action_id, "result_table", id),
        None => grant
            .permissions
            .iter()
            .any(|(a, _, _)| *a == req.action_id),
    })
}

/// The object class an action is on (`result_table.query_data` → `result_table`).
fn class_of(action_id: &str) -> &str {
    action_id.split('.').next().unwrap_or_default()
}

/// GET `auth/users/{user}/scopes/?action_id=…`: the objects the caller may act on, as
/// BKData lists them (`[{"result_table_id": …}]`, `[{"raw_data_id": …}]`, …).
pub fn scopes(
    conn: &mut PgConnection,
    caller: &Caller,
    action_id: &str,
) -> Result<Vec<Value>, DatabusError> {
    let manage = !matches!(action_id, QUERY_DATA | "result_table.retrieve");
    Ok(match class_of(action_id) {
        "result_table" => {
            let access = if manage {
                Access::Manage
            } else {
                Access::Query
            };
            result_tables(conn, caller, access)?
                .into_iter()
                .map(|t| json!({"result_table_id": t.result_table_id, "bk_biz_id": t.bk_biz_id}))
                .collect()
        }
        "raw_data" if caller.token.is_none() => rd::table
            .filter(rd::bk_app_code.eq(&caller.app_code))
            .order(rd::id)
            .select((rd::id, rd::bk_biz_id))
            .load::<(i64, i64)>(conn)?
            .into_iter()
            .map(|(id, biz)| json!({"raw_data_id": id, "bk_biz_id": biz}))
            .collect(),
        "project" if caller.token.is_none() => caller_projects(conn, caller)?
            .into_iter()
            .map(|p| json!({"project_id": p.project_id}))
            .collect(),
        "raw_data" | "project" => Vec::new(),
        other => {
            return Err(DatabusError::field(
                "action_id",
                format!(
                    "action_id {action_id:?} is on {other:?}: scopes are listed for \
                     result_table, raw_data and project actions"
                ),
            ))
        }
    })
}

/// POST `auth/users/{user}/check/`: whether the caller may do `action_id` on `object_id`.
pub fn check_user(
    conn: &mut PgConnection,
    caller: &Caller,
    action_id: &str,
    object_id: &str,
) -> Result<bool, DatabusError> {
    let scopes = scopes(conn, caller, action_id)?;
    let key = match class_of(action_id) {
        "result_table" => "result_table_id",
        "raw_data" => "raw_data_id",
        _ => "project_id",
    };
    Ok(scopes.iter().any(|s| match &s[key] {
        Value::String(v) => v == object_id,
        Value::Number(n) => n.to_string() == object_id,
        _ => false,
    }))
}

/// `tickets/`: a request for permissions, decided at once. A permission the caller could
/// grant itself (a result table it owns to its own project, or one it reads to its own
/// token) is granted; anything else refuses the whole ticket (nothing waits for approval).
pub fn ticket(
    conn: &mut PgConnection,
    caller: &Caller,
    req: &Value,
) -> Result<Value, DatabusError> {
    let perms = req["permissions"]
        .as_array()
        .ok_or_else(|| DatabusError::field("permissions", "permissions is required (a list)"))?;
    let reason = req["reason"].as_str().unwrap_or("");
    let granted = conn.transaction(|conn| {
        let mut out = Vec::new();
        for (i, p) in perms.iter().enumerate() {
            out.push(
                ticket_permission(conn, caller, reason, p).map_err(|e| match e {
                    DatabusError::Denied { code, message } => DatabusError::Denied {
                        code,
                        message: format!("permissions[{i}]: {message}"),
                    },
                    other => other,
                })?,
            );
        }
        Ok::<_, DatabusError>(out)
    })?;
    Ok(json!([{
        "ticket_type": req["ticket_type"],
        "status": "succeeded",
        "permissions": granted,
    }]))
}

fn ticket_permission(
    conn: &mut PgConnection,
    caller: &Caller,
    reason: &str,
    p: &Value,
) -> Result<Value, DatabusError> {
    let action = p["action"]
        .as_str()
        .or(p["action_id"].as_str())
        .unwrap_or(QUERY_DATA);
    let rt = p["scope"]["result_table_id"].as_str().ok_or_else(|| {
        DatabusError::field("permissions", "each permission needs scope.result_table_id")
    })?;
    let subject = match &p["subject_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let subject_id: i64 = subject.parse().map_err(|_| {
        DatabusError::field(
            "permissions",
            format!("subject_id {subject:?} is not an id"),
        )
    })?;
    match p["subject_class"].as_str().unwrap_or("") {
        "project" => {
            let g = bkdata_api::databus::GrantRequest {
                result_table_id: Some(rt.to_string()),
                bk_biz_id: None,
            };
            projects::grant(conn, caller, subject_id, &g)?;
        }
        "token" => {
            let req = TokenRequest {
                data_scope: bkdata_api::auth::DataScope {
                    is_all: false,
                    permissions: vec![ScopePermission {
                        action_id: action.to_string(),
                        ..ScopePermission::query_result_table(rt)
                    }],
                },
                reason: reason.to_string(),
                ..TokenRequest::default()
            };
            update_token(conn, caller, subject_id, &req)?;
        }
        other => {
            return Err(denied(
                "1511107",
                format!("subject_class {other:?} cannot be granted here: use project or token"),
            ))
        }
    }
    Ok(
        json!({"subject_id": subject, "subject_class": p["subject_class"], "action": action,
        "scope": {"result_table_id": rt}, "status": "succeeded"}),
    )
}

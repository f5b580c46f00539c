//! BKData's auth module (`/v3/auth/…`) as bklog and bk-monitor call it: data tokens, project
//! data grants and checks, a user's scopes and checks, tickets. Permissions are the app's
//! (see `bkdata_databus::auth`).
use crate::request::{bk_body, bk_request, db, id_of, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_api::auth::{TokenCheckRequest, TokenRequest};
use bkdata_databus::auth;
use bkdata_databus::{projects, DatabusError};
use bkdata_models::auth::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/auth/tokens/", post(create_token).get(list_tokens))
        .route("/v3/auth/tokens/check/", post(check_token))
        .route(
            "/v3/auth/tokens/{id}/",
            get(retrieve_token).put(update_token),
        )
        // bklog's body `{bk_biz_id, object_id, project_id}`: the meta grant reads `object_id`.
        .route(
            "/v3/auth/projects/{id}/data/add/",
            post(crate::meta_api::grant),
        )
        .route(
            "/v3/auth/projects/{id}/data/check/",
            post(check_project_data),
        )
        .route(
            "/v3/auth/projects/{id}/cluster_group/",
            post(add_cluster_group),
        )
        .route("/v3/auth/users/{user}/scopes/", get(user_scopes))
        .route("/v3/auth/users/{user}/check/", post(check_user))
        .route("/v3/auth/tickets/", post(tickets))
}

async fn create_token(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: TokenRequest = bk_request(&bytes)?;
    let (token, _) = db(&st, move |conn| auth::create_token(conn, &c, &req)).await?;
    // As BKData: the token itself, in plain text, this once.
    ok(json!(token))
}

async fn list_tokens(State(st): State<AppState>, Extension(c): Extension<Caller>) -> BkResult {
    ok_as(db(&st, move |conn| auth::list_tokens(conn, &c)).await?)
}

async fn retrieve_token(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("data token", &id)?;
    ok_as(db(&st, move |conn| auth::retrieve_token(conn, &c, id)).await?)
}

async fn update_token(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("data token", &id)?;
    let req: TokenRequest = bk_request(&bytes)?;
    ok_as(db(&st, move |conn| auth::update_token(conn, &c, id, &req)).await?)
}

async fn check_token(State(st): State<AppState>, bytes: Bytes) -> BkResult {
    let req: TokenCheckRequest = bk_request(&bytes)?;
    ok(json!(
        db(&st, move |conn| auth::check_token(conn, &req)).await?
    ))
}

/// bk-monitor's `{result_table_id, action_id}`: whether the project may read the table.
async fn check_project_data(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("project", &id)?;
    let req = bk_body(&bytes)?;
    let rt = req["result_table_id"]
        .as_str()
        .or(req["object_id"].as_str())
        .ok_or_else(|| DatabusError::field("result_table_id", "result_table_id is required"))?
        .to_string();
    let yes = db(&st, move |conn| {
        let project = projects::get(conn, &c, id)?;
        Ok::<_, DatabusError>(projects::readable(conn, &project, &rt)?.is_some())
    })
    .await?;
    ok(json!(yes))
}

/// Resource groups are not modelled (every project runs on the one worker fleet): the call
/// is checked (the project is the caller's) and answered, and changes nothing.
async fn add_cluster_group(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("project", &id)?;
    let req = bk_body(&bytes)?;
    db(&st, move |conn| projects::get(conn, &c, id)).await?;
    ok(json!({"project_id": id, "cluster_group_id": req["cluster_group_id"]}))
}

async fn user_scopes(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let action = q
        .get("action_id")
        .filter(|a| !a.is_empty())
        .cloned()
        .ok_or_else(|| DatabusError::field("action_id", "action_id is required"))?;
    ok(json!(
        db(&st, move |conn| auth::scopes(conn, &c, &action)).await?
    ))
}

async fn check_user(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    let text = |k: &str| match &req[k] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let action = text("action_id")
        .ok_or_else(|| DatabusError::field("action_id", "action_id is required"))?;
    let object = text("object_id").unwrap_or_default();
    ok(json!(
        db(&st, move |conn| auth::check_user(
            conn, &c, &action, &object
        ))
        .await?
    ))
}

/// BKData's `tickets/`: decided at once here (see `bkdata_databus::auth::ticket`).
async fn tickets(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    ok(db(&st, move |conn| auth::ticket(conn, &c, &req)).await?)
}

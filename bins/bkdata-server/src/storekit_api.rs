//! Storage clusters (`/v3/storekit/clusters/`), in BKData's envelope. Secrets never leave.
use crate::request::{bk_request, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use bkdata_api::databus::ClusterRequest;
use bkdata_databus::storage;
use bkdata_models::auth::Caller;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/storekit/clusters/", get(list_all).post(create))
        .route("/v3/storekit/clusters/{cluster_type}/", get(list_type))
        .route(
            "/v3/storekit/clusters/{cluster_type}/{name}/",
            get(read).put(update).delete(remove),
        )
}

fn views(rows: &[bkdata_models::databus::StorageCluster]) -> Value {
    json!(rows.iter().map(storage::view).collect::<Vec<_>>())
}

async fn list_all(State(st): State<AppState>) -> BkResult {
    let rows = db(&st, |conn| storage::list(conn, None)).await?;
    ok(views(&rows))
}

async fn list_type(State(st): State<AppState>, Path(t): Path<String>) -> BkResult {
    let rows = db(&st, move |conn| storage::list(conn, Some(&t))).await?;
    ok(views(&rows))
}

async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: ClusterRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| storage::create(conn, &c, &req)).await?;
    ok_as(storage::view(&x))
}

async fn read(State(st): State<AppState>, Path((t, name)): Path<(String, String)>) -> BkResult {
    let x = db(&st, move |conn| storage::get(conn, &t, &name)).await?;
    ok_as(storage::view(&x))
}

async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((t, name)): Path<(String, String)>,
    bytes: Bytes,
) -> BkResult {
    let req: ClusterRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| storage::update(conn, &c, &t, &name, &req)).await?;
    ok_as(storage::view(&x))
}

async fn remove(State(st): State<AppState>, Path((t, name)): Path<(String, String)>) -> BkResult {
    let n = name.clone();
    db(&st, move |conn| storage::delete(conn, &t, &n)).await?;
    ok(json!({"cluster_name": name, "deleted": true}))
}

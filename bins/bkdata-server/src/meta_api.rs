//! Projects and their result-table grants (`/v3/meta/projects/`) and the result tables
//! (`/v3/meta/result_tables/`), in BKData's envelope.
use crate::request::{bk_request, db, id_of, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use bkdata_api::databus::{GrantRequest, ProjectRequest};
use bkdata_databus::{meta, projects};
use bkdata_models::auth::Caller;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/meta/projects/", get(list).post(create))
        .route("/v3/meta/projects/{id}/", get(read))
        .route("/v3/meta/projects/{id}/data/", get(data))
        .route("/v3/meta/projects/{id}/data/add/", post(grant))
        .route("/v3/meta/projects/{id}/data/{rt}/", delete(revoke))
        .route("/v3/meta/result_tables/", get(list_tables))
        .route("/v3/meta/result_tables/mine/", get(my_tables))
        .route("/v3/meta/result_tables/{rt}/", get(read_table))
        .route("/v3/meta/result_tables/{rt}/fields/", get(table_fields))
        .route("/v3/meta/result_tables/{rt}/storages/", get(table_storages))
}

async fn list_tables(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<Vec<(String, String)>>,
) -> BkResult {
    let q = meta::ListQuery::from_pairs(&q)?;
    ok(json!(db(&st, move |conn| meta::list(conn, &c, &q)).await?))
}

async fn my_tables(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<Vec<(String, String)>>,
) -> BkResult {
    let q = meta::ListQuery {
        mine: true,
        ..meta::ListQuery::from_pairs(&q)?
    };
    ok(json!(db(&st, move |conn| meta::list(conn, &c, &q)).await?))
}

async fn read_table(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> BkResult {
    let related = meta::ListQuery::from_pairs(&q)?.related;
    ok(db(&st, move |conn| meta::retrieve(conn, &c, &rt, &related)).await?)
}

async fn table_fields(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
) -> BkResult {
    ok(json!(
        db(&st, move |conn| meta::fields(conn, &c, &rt)).await?
    ))
}

async fn table_storages(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
) -> BkResult {
    ok(json!(
        db(&st, move |conn| meta::storages(conn, &c, &rt)).await?
    ))
}

async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: ProjectRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| projects::create(conn, &c, &req)).await?;
    ok_as(projects::view(&x))
}

async fn list(State(st): State<AppState>, Extension(c): Extension<Caller>) -> BkResult {
    let rows = db(&st, move |conn| projects::list(conn, &c)).await?;
    ok(json!(rows.iter().map(projects::view).collect::<Vec<_>>()))
}

async fn read(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("project", &id)?;
    let x = db(&st, move |conn| projects::get(conn, &c, id)).await?;
    ok_as(projects::view(&x))
}

async fn data(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("project", &id)?;
    let rows = db(&st, move |conn| projects::data(conn, &c, id)).await?;
    ok(json!(rows
        .iter()
        .map(projects::data_view)
        .collect::<Vec<_>>()))
}

pub(crate) async fn grant(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("project", &id)?;
    let req: GrantRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| projects::grant(conn, &c, id, &req)).await?;
    ok(projects::data_view(&x))
}

async fn revoke(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((id, rt)): Path<(String, String)>,
) -> BkResult {
    let id = id_of("project", &id)?;
    let r = rt.clone();
    db(&st, move |conn| projects::revoke(conn, &c, id, &r)).await?;
    ok(json!({"project_id": id, "result_table_id": rt, "deleted": true}))
}

//! Storage clusters (`/v3/storekit/clusters/`), a table's storage schema, cluster configs and
//! read-only Elasticsearch routing (`/v3/storekit/…`), and the resource center
//! (`/v3/resourcecenter/…`), in BKData's envelope. Secrets never leave.
use crate::request::{bk_body, bk_request, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_api::databus::ClusterRequest;
use bkdata_databus::{clusters, resourcecenter, storekit, DatabusError};
use bkdata_models::auth::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/storekit/clusters/", get(list_all).post(create))
        .route("/v3/storekit/clusters/{cluster_type}/", get(list_type))
        .route(
            "/v3/storekit/clusters/{cluster_type}/{name}/",
            get(read).put(update).delete(remove),
        )
        .route(
            "/v3/storekit/result_tables/{rt}/schema_and_sql/",
            get(schema_and_sql),
        )
        .route(
            "/v3/storekit/storage_cluster_configs/{name}/",
            get(cluster_config),
        )
        .route("/v3/storekit/es/route/", get(es_route))
        .route(
            "/v3/resourcecenter/clusters/query_digest/",
            get(query_digest),
        )
        .route(
            "/v3/resourcecenter/resource_sets/",
            post(create_resource_set),
        )
        .route(
            "/v3/resourcecenter/resource_sets/{id}/",
            axum::routing::patch(update_resource_set).put(update_resource_set),
        )
}

async fn schema_and_sql(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(rt): Path<String>,
) -> BkResult {
    ok(db(&st, move |conn| storekit::schema_and_sql(conn, &c, &rt)).await?)
}

async fn cluster_config(State(st): State<AppState>, Path(name): Path<String>) -> BkResult {
    ok(db(&st, move |conn| storekit::cluster_config(conn, &name)).await?)
}

/// bklog `json.loads` the answer: `data` is Elasticsearch's answer as a JSON string.
async fn es_route(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let need = |k: &str| {
        q.get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| DatabusError::field(k, format!("{k} is required")))
    };
    let (cluster, uri) = (need("cluster_name")?, need("uri")?);
    ok(json!(
        storekit::es_route(&st.pool, &c, &cluster, &uri).await?
    ))
}

async fn query_digest(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let rtype = q
        .get("resource_type")
        .cloned()
        .unwrap_or_else(|| "storage".into());
    let (service, name) = (
        q.get("service_type").cloned(),
        q.get("cluster_name").cloned(),
    );
    ok(json!(
        db(&st, move |conn| resourcecenter::query_digest(
            conn,
            &rtype,
            service.as_deref(),
            name.as_deref()
        ))
        .await?
    ))
}

async fn create_resource_set(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    ok(db(&st, move |conn| {
        resourcecenter::create_resource_set(conn, &c, &req)
    })
    .await?)
}

async fn update_resource_set(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    ok(db(&st, move |conn| {
        resourcecenter::update_resource_set(conn, &c, &id, &req)
    })
    .await?)
}

fn views(rows: &[bkdata_models::databus::StorageCluster]) -> Value {
    json!(rows.iter().map(clusters::view).collect::<Vec<_>>())
}

async fn list_all(State(st): State<AppState>) -> BkResult {
    let rows = db(&st, |conn| clusters::list(conn, None)).await?;
    ok(views(&rows))
}

async fn list_type(State(st): State<AppState>, Path(t): Path<String>) -> BkResult {
    let rows = db(&st, move |conn| clusters::list(conn, Some(&t))).await?;
    ok(views(&rows))
}

async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req: ClusterRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| clusters::create(conn, &c, &req)).await?;
    ok_as(clusters::view(&x))
}

async fn read(State(st): State<AppState>, Path((t, name)): Path<(String, String)>) -> BkResult {
    let x = db(&st, move |conn| clusters::get(conn, &t, &name)).await?;
    ok_as(clusters::view(&x))
}

async fn update(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((t, name)): Path<(String, String)>,
    bytes: Bytes,
) -> BkResult {
    let req: ClusterRequest = bk_request(&bytes)?;
    let x = db(&st, move |conn| clusters::update(conn, &c, &t, &name, &req)).await?;
    ok_as(clusters::view(&x))
}

async fn remove(State(st): State<AppState>, Path((t, name)): Path<(String, String)>) -> BkResult {
    let n = name.clone();
    db(&st, move |conn| clusters::delete(conn, &t, &n)).await?;
    ok(json!({"cluster_name": name, "deleted": true}))
}

//! Flows (`/v3/dataflow/flow/flows/`), in BKData's envelope: create (checked as a whole; an
//! invalid node leaves nothing behind), get, list, graph, export, delete.
use crate::request::{bk_body, body, db, id_of, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bkdata_databus::DatabusError;
use bkdata_flow::{deploy, edit, flows, monitor};
use bkdata_models::auth::Caller;
use serde_json::json;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/dataflow/flow/flows/", get(list).post(create))
        .route("/v3/dataflow/flow/flows/create/", post(create))
        .route("/v3/dataflow/flow/flows/{id}/", get(read).delete(remove))
        .route("/v3/dataflow/flow/flows/{id}/graph/", get(graph))
        .route("/v3/dataflow/flow/flows/{id}/export/", get(export))
        .route("/v3/dataflow/flow/flows/{id}/start/", post(start))
        .route("/v3/dataflow/flow/flows/{id}/stop/", post(stop))
        .route("/v3/dataflow/flow/flows/{id}/restart/", post(restart))
        .route(
            "/v3/dataflow/flow/flows/{id}/latest_deploy_data/",
            get(latest_deploy),
        )
        .route("/v3/dataflow/flow/flows/{id}/deploy_data/", get(deploys))
        .route("/v3/dataflow/flow/flows/{id}/create/", post(replace_nodes))
        .route("/v3/dataflow/flow/flows/{id}/nodes/", post(add_node))
        .route(
            "/v3/dataflow/flow/flows/{id}/monitor_data/",
            get(flow_monitor),
        )
        .route(
            "/v3/dataflow/flow/flows/{id}/nodes/{nid}/monitor_data/",
            get(node_monitor),
        )
        .route("/v3/dataflow/flow/flows/{id}/versions/draft/", get(draft))
        .route("/v3/dataflow/tool/job/set_resource/", post(set_resource))
        .route(
            "/v3/dataflow/flow/flows/{id}/nodes/{nid}/",
            axum::routing::patch(patch_node)
                .put(patch_node)
                .delete(delete_node),
        )
}

async fn create(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    let caller = c.clone();
    let prepared = db(&st, move |conn| flows::prepare(conn, &caller, &req)).await?;
    let nodes = flows::check(&prepared).await?;
    let out = db(&st, move |conn| flows::create(conn, &c, prepared, nodes)).await?;
    ok_as(out)
}

async fn list(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let project = match q.get("project_id").filter(|p| !p.is_empty()) {
        Some(p) => Some(id_of("project", p)?),
        None => None,
    };
    let rows = db(&st, move |conn| flows::list(conn, &c, project)).await?;
    ok_as(rows.iter().map(flows::view).collect::<Vec<_>>())
}

async fn read(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let x = db(&st, move |conn| flows::get(conn, &c, id)).await?;
    ok_as(flows::view(&x))
}

async fn graph(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    ok_as(db(&st, move |conn| flows::graph(conn, &c, id)).await?)
}

async fn export(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    ok_as(db(&st, move |conn| flows::export(conn, &c, id)).await?)
}

async fn remove(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    db(&st, move |conn| flows::delete(conn, &c, id)).await?;
    ok(json!({"flow_id": id, "deleted": true}))
}

async fn act(st: AppState, c: Caller, id: String, action: &'static str, bytes: Bytes) -> BkResult {
    let id = id_of("flow", &id)?;
    // BKData's start and stop take an empty body too.
    let body: serde_json::Value = body(&bytes, true).map_err(|e| e.bkdata("1500400"))?;
    ok_as(
        db(&st, move |conn| {
            deploy::request(conn, &c, id, action, &body)
        })
        .await?,
    )
}

async fn start(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    act(st, c, id, "start", bytes).await
}

async fn stop(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    act(st, c, id, "stop", bytes).await
}

async fn restart(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    act(st, c, id, "restart", bytes).await
}

async fn latest_deploy(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let d = db(&st, move |conn| deploy::latest(conn, &c, id)).await?;
    ok_as(d.as_ref().map(deploy::view))
}

async fn deploys(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let list = db(&st, move |conn| deploy::history(conn, &c, id)).await?;
    ok_as(list.iter().map(deploy::view).collect::<Vec<_>>())
}

/// Node edits: read and resolve, check the whole graph (async), then save.
async fn run_edit(
    st: AppState,
    c: Caller,
    prepare: impl FnOnce(&mut bkdata_models::PgConnection, &Caller) -> Result<edit::Edit, DatabusError>
        + Send
        + 'static,
) -> BkResult {
    let caller = c.clone();
    let e = db(&st, move |conn| prepare(conn, &caller)).await?;
    let nodes = edit::check(&e).await?;
    ok(db(&st, move |conn| edit::apply(conn, &c, e, nodes)).await?)
}

async fn add_node(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let req = bk_body(&bytes)?;
    run_edit(st, c, move |conn, c| edit::prepare_add(conn, c, id, &req)).await
}

async fn patch_node(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((id, nid)): Path<(String, String)>,
    bytes: Bytes,
) -> BkResult {
    let (id, nid) = (id_of("flow", &id)?, id_of("node", &nid)?);
    let req = bk_body(&bytes)?;
    run_edit(st, c, move |conn, c| {
        edit::prepare_patch(conn, c, id, nid, &req)
    })
    .await
}

async fn replace_nodes(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let req = bk_body(&bytes)?;
    run_edit(st, c, move |conn, c| {
        edit::prepare_replace(conn, c, id, &req)
    })
    .await
}

async fn delete_node(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((id, nid)): Path<(String, String)>,
) -> BkResult {
    let (id, nid) = (id_of("flow", &id)?, id_of("node", &nid)?);
    db(&st, move |conn| edit::delete_node(conn, &c, id, nid)).await?;
    ok(json!({"flow_id": id, "node_id": nid, "deleted": true}))
}

async fn flow_monitor(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let m = q.get("monitor_type").cloned();
    ok(db(&st, move |conn| {
        monitor::flow_monitor(conn, &c, id, m.as_deref())
    })
    .await?)
}

async fn node_monitor(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((id, nid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let (id, nid) = (id_of("flow", &id)?, id_of("node", &nid)?);
    let m = q.get("monitor_type").cloned();
    ok(db(&st, move |conn| {
        monitor::node_monitor_data(conn, &c, id, nid, m.as_deref())
    })
    .await?)
}

async fn draft(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> BkResult {
    let id = id_of("flow", &id)?;
    let info = q
        .get("add_node_running_info")
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    ok(db(&st, move |conn| monitor::draft(conn, &c, id, info)).await?)
}

async fn set_resource(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    ok(db(&st, move |conn| monitor::set_resource(conn, &c, &req)).await?)
}

//! The query API: `/v3/dataquery/query/` and `/v3/queryengine/query_sync/` (bklog's
//! `BkDataQueryApi.query`, bk-monitor's `query_data`) take `{sql, prefer_storage}`: read-only
//! SQL on the storage of the result tables it names, or with `prefer_storage: "es"` a JSON
//! `{index, body}` search or `{index, mapping: true}` on their Elasticsearch storage. Answers in
//! BKData's envelope.
use crate::request::{bk_body, db, ok, ok_as, BkResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Router};
use bkdata_databus::DatabusError;
use bkdata_flow::query::{self, Limits};
use bkdata_flow::query_es;
use bkdata_models::auth::Caller;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/dataquery/query/", post(run))
        .route("/v3/queryengine/query_sync/", post(run))
}

async fn run(
    State(st): State<AppState>,
    Extension(c): Extension<Caller>,
    bytes: Bytes,
) -> BkResult {
    let req = bk_body(&bytes)?;
    let sql = req["sql"]
        .as_str()
        .ok_or_else(|| DatabusError::field("sql", "sql is required (a SELECT)"))?
        .to_string();
    let prefer = req["prefer_storage"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let limits = Limits {
        max_rows: st.config.query_max_rows,
        timeout: Duration::from_millis(st.config.query_timeout_ms),
    };
    if prefer.as_deref() == Some("es") {
        let es = query_es::parse(&sql)?;
        let (plan, es) = db(&st, move |conn| {
            let plan = query_es::plan(conn, &c, &es)?;
            Ok::<_, DatabusError>((plan, es))
        })
        .await?;
        return ok(query_es::run(&plan, &es, limits).await?);
    }
    let checked = query::check(&sql)?;
    let (plan, checked) = db(&st, move |conn| {
        let plan = query::plan(conn, &c, &checked, prefer.as_deref())?;
        Ok::<_, DatabusError>((plan, checked))
    })
    .await?;
    ok_as(query::run(&plan, &checked, limits).await?)
}

//! The HTTP API: axum router, request auth, and the one mapping of errors to envelopes.
//! Handlers are thin: they parse, call `bkdata_pipeline::Service` on the blocking pool, and wrap.
mod alert_api;
mod auth;
mod auth_api;
mod canonical;
mod console;
mod databus_api;
mod dataflow_api;
mod error;
mod meta_api;
mod metrics;
pub mod openapi;
mod partitions_api;
mod pipeline_api;
mod platform_api;
mod query_api;
mod rawdata_api;
mod request;
mod shipping_api;
mod storekit_api;

use axum::routing::get;
use axum::Router;
use bkdata_models::PgPool;
use bkdata_pipeline::Service;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::ApiError;

/// Server settings, from the environment (see `.env.sample`).
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub data_dir: PathBuf,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    pub pool_size: u32,
    /// `nats://…` for JetStream (a comma-separated list for a cluster), or `memory` for the
    /// in-process bus.
    pub nats_url: String,
    /// Copies of each stream on a NATS cluster (`BKDATA_BUS_REPLICAS`, 1 for one server).
    pub bus_replicas: usize,
    /// Prefix of bus subjects and streams (`bkdata.raw.{id}`).
    pub bus_prefix: String,
    /// Largest ingest body (before gzip decoding), and records per ingest request.
    pub max_ingest_bytes: usize,
    pub max_ingest_records: usize,
    /// The query API's row limit and timeout.
    pub query_max_rows: usize,
    pub query_timeout_ms: u64,
    /// Most events one alert ingest request may carry (the rest are rejected by index).
    pub alert_max_events: usize,
    /// The business databases tasks may name (`BKDATA_APP_DB_URL`, `BKDATA_BUSINESS_DBS_FILE`).
    pub business_dbs: bkdata_training::registry::Registry,
    /// The built web console served at `/` (`BKDATA_CONSOLE_DIR`, or found beside the binary).
    pub console_dir: Option<PathBuf>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8084";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_INGEST_BYTES: usize = 16 * 1024 * 1024;

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        use bkdata_models::env::var as env;
        let parse = |k: &str, d: usize| bkdata_models::env::num(k, d).map_err(anyhow::Error::msg);
        Ok(Config {
            database_url: env("DATABASE_URL")
                .unwrap_or_else(|| bkdata_models::db::DEFAULT_DATABASE_URL.into()),
            listen: env("BKDATA_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into()),
            data_dir: env("BKDATA_DATA_DIR")
                .unwrap_or_else(|| "./data/pipeline".into())
                .into(),
            max_body_bytes: parse("BKDATA_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            pool_size: parse("BKDATA_DB_POOL_SIZE", 32)? as u32,
            nats_url: env("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            bus_replicas: parse("BKDATA_BUS_REPLICAS", 1)?.max(1),
            bus_prefix: env("BKDATA_BUS_PREFIX").unwrap_or_else(|| "bkdata".into()),
            max_ingest_bytes: parse("BKDATA_MAX_INGEST_BYTES", DEFAULT_MAX_INGEST_BYTES)?,
            max_ingest_records: parse("BKDATA_MAX_INGEST_RECORDS", 200_000)?,
            query_max_rows: parse("BKDATA_QUERY_MAX_ROWS", 10_000)?.max(1),
            query_timeout_ms: parse("BKDATA_QUERY_TIMEOUT_MS", 30_000)?.max(1) as u64,
            alert_max_events: parse("BKDATA_ALERT_MAX_EVENTS", 10_000)?.max(1),
            business_dbs: bkdata_training::registry::Registry::from_env()?,
            console_dir: console::find_dir(),
        })
    }
}

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub pool: PgPool,
    pub bus: bkdata_bus::AnyBus,
    pub config: Arc<Config>,
    pub(crate) apps: Arc<auth::AppCache>,
    pub(crate) metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(config: Config, pool: PgPool, bus: bkdata_bus::AnyBus) -> Self {
        AppState {
            service: Service::new(pool.clone(), config.data_dir.clone()),
            pool,
            bus,
            config: Arc::new(config),
            apps: Arc::default(),
            metrics: Arc::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v0/data_pipeline", pipeline_api::routes())
        .merge(databus_api::routes())
        .merge(rawdata_api::routes())
        .merge(partitions_api::routes())
        .merge(storekit_api::routes())
        .merge(shipping_api::routes())
        .merge(meta_api::routes())
        .merge(alert_api::routes())
        .merge(auth_api::routes())
        .merge(dataflow_api::routes())
        .merge(query_api::routes())
        .merge(platform_api::routes())
        .route("/", get(console::index))
        .route("/index.html", get(console::index))
        .route("/favicon.svg", get(console::favicon))
        .route("/assets/{name}", get(console::asset))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::prometheus))
        .fallback(error::route_not_found)
        // The auth middleware buffers each body under its own limit (BKDATA_MAX_BODY_BYTES, or
        // BKDATA_MAX_INGEST_BYTES for ingest); axum's 2 MiB default would cut ingest short.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}

/// Serve until the future `shutdown` completes.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::ServiceExt as _;
    // The rewrite wraps the router: it must run before routing.
    let app = tower::Layer::layer(
        &tower::util::MapRequestLayer::new(canonical::rewrite),
        router(state),
    );
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

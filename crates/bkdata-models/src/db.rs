//! Connection pool, embedded migrations and the migrated-schema check.
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The pool's error, for crates that reach the database only through these helpers (the
/// server binary).
pub use diesel::r2d2::PoolError;

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PgConn = PooledConnection<ConnectionManager<PgConnection>>;

/// Run a database call on tokio's blocking pool with a connection of `pool` (diesel blocks;
/// async code must not). The error type says how a missing connection and a panicked call
/// read for the caller.
pub async fn blocking<T, E>(
    pool: &PgPool,
    f: impl FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<diesel::r2d2::PoolError> + From<tokio::task::JoinError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}

/// [`blocking`] for callers that answer `anyhow` (jobs, health checks, metrics): any error
/// (a message too), with its cause chain.
pub async fn call<T, E>(
    pool: &PgPool,
    f: impl FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
) -> anyhow::Result<T>
where
    T: Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    blocking(pool, move |c| {
        f(c).map_err(|e| anyhow::Error::from_boxed(e.into()))
    })
    .await
}

/// Default when `DATABASE_URL` is not set: the local Postgres the scripts start.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/bkdata";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: diesel::ConnectionError,
    },
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("the database at {url} is not migrated ({pending} pending migration(s): {names}); run `bkdata-server migrate` first")]
    NotMigrated {
        url: String,
        pending: usize,
        names: String,
    },
}

/// Hide the password of a URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            let user = creds.split(':').next().unwrap_or("");
            let masked = if creds.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            return format!("{scheme}://{masked}@{host}");
        }
    }
    url.to_string()
}

pub fn connect(url: &str) -> Result<PgConnection, DbError> {
    PgConnection::establish(url).map_err(|source| DbError::Connect {
        url: redact_url(url),
        source,
    })
}

/// A pool that opens connections lazily (r2d2 would otherwise open `max_size` at start).
pub fn pool(url: &str, max_size: u32) -> Result<PgPool, DbError> {
    pool_with(url, max_size, 1)
}

/// A pool that keeps `min_idle` connections open: a server under load must not wait for
/// connections to be established one by one.
pub fn pool_with(url: &str, max_size: u32, min_idle: u32) -> Result<PgPool, DbError> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Ok(Pool::builder()
        .max_size(max_size)
        .min_idle(Some(min_idle.min(max_size)))
        .connection_timeout(Duration::from_secs(5))
        .build(manager)?)
}

/// Create the database named in `url` when it does not exist (connects to `postgres` to do so).
pub fn create_database_if_missing(url: &str) -> Result<bool, DbError> {
    if connect(url).is_ok() {
        return Ok(false);
    }
    let (base, name) = url
        .rsplit_once('/')
        .ok_or_else(|| DbError::Migration(format!("no database name in {}", redact_url(url))))?;
    let name = name.split('?').next().unwrap_or(name);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::Migration(format!(
            "refusing to create database with unusual name {name:?}"
        )));
    }
    let mut admin = connect(&format!("{base}/postgres"))?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin)?;
    Ok(true)
}

/// Apply pending migrations; answers the names of those applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Fail with a message saying what to run when migrations are pending.
pub fn ensure_migrated(url: &str) -> Result<(), DbError> {
    let mut conn = connect(url)?;
    let pending = conn
        .pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = pending.iter().map(|m| m.name().to_string()).collect();
    Err(DbError::NotMigrated {
        url: redact_url(url),
        pending: names.len(),
        names: names.join(", "),
    })
}

/// A round trip to the database (health checks).
pub fn ping(conn: &mut PgConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

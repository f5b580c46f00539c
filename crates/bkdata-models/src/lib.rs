//! The one schema shared by `bkdata-server` and `bkdata-worker`: diesel tables, the pool,
//! embedded migrations, apps, and the Postgres job queue.
pub mod alloc;
pub mod auth;
pub mod databus;
pub mod db;
pub mod env;
pub mod error;
pub mod jobs;
pub mod pipeline;
pub mod schema;
pub mod states;
pub mod tokens;

pub use db::{PgConn, PgPool, PoolError};
/// The connection the database helpers hand to their calls.
pub use diesel::pg::PgConnection;

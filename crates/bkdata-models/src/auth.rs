//! Apps (`bk_app_code` + secret). Secrets are random 256-bit tokens shown once; only
//! `sha256(salt || secret)` is stored.
use crate::schema::apps;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Who is calling: the authenticated app and user. Everything an app creates is its own.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app_code: String,
    pub username: String,
    /// Set when the call is authorized by a data token (`bkdata_authentication_method=token`):
    /// it may then touch only what the token grants, whatever the app owns.
    pub token: Option<std::sync::Arc<TokenGrant>>,
}

impl Caller {
    /// An app's user, authorized as the user (not by a token).
    pub fn user(app_code: &str, username: &str) -> Self {
        Caller {
            app_code: app_code.to_string(),
            username: username.to_string(),
            token: None,
        }
    }
}

/// The active permissions of a data token.
#[derive(Debug, Clone, Default)]
pub struct TokenGrant {
    pub token_id: i64,
    /// `(action_id, scope_object_class, scope_id)`, e.g.
    /// `("result_table.query_data", "result_table", "591_nginx")`.
    pub permissions: Vec<(String, String, String)>,
}

impl TokenGrant {
    pub fn allows(&self, action_id: &str, object_class: &str, id: &str) -> bool {
        self.permissions
            .iter()
            .any(|(a, c, i)| a == action_id && c == object_class && i == id)
    }

    /// Any permission on the object (reading its metadata needs no more).
    pub fn touches(&self, object_class: &str, id: &str) -> bool {
        self.permissions
            .iter()
            .any(|(_, c, i)| c == object_class && i == id)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = apps)]
pub struct App {
    pub bk_app_code: String,
    pub secret_salt: String,
    pub secret_hash: String,
    pub description: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl App {
    /// Constant-time comparison of a presented secret with the stored hash.
    pub fn verify(&self, secret: &str) -> bool {
        let presented = hash_secret(&self.secret_salt, secret);
        let (a, b) = (presented.as_bytes(), self.secret_hash.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

pub fn hash_secret(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("app code {0:?} is invalid: use 1-64 letters, digits, '-' or '_'")]
    InvalidCode(String),
    #[error("app {0:?} already exists (use --reset-secret to issue a new secret)")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

pub fn valid_app_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Create an app (or give an existing one a new secret when `reset` is set); answers the secret.
pub fn create_app(
    conn: &mut PgConnection,
    code: &str,
    description: &str,
    reset: bool,
) -> Result<String, AppError> {
    if !valid_app_code(code) {
        return Err(AppError::InvalidCode(code.to_string()));
    }
    let secret = random_hex(32);
    let salt = random_hex(16);
    let hash = hash_secret(&salt, &secret);
    let inserted = diesel::insert_into(apps::table)
        .values((
            apps::bk_app_code.eq(code),
            apps::secret_salt.eq(&salt),
            apps::secret_hash.eq(&hash),
            apps::description.eq(description),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 0 {
        if !reset {
            return Err(AppError::Exists(code.to_string()));
        }
        diesel::update(apps::table.find(code))
            .set((
                apps::secret_salt.eq(&salt),
                apps::secret_hash.eq(&hash),
                apps::is_active.eq(true),
                apps::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    }
    Ok(secret)
}

pub fn find_app(conn: &mut PgConnection, code: &str) -> QueryResult<Option<App>> {
    apps::table
        .find(code)
        .select(App::as_select())
        .first(conn)
        .optional()
}

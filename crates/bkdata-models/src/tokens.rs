//! BKData data tokens (`auth/tokens/`): random 32-character secrets shown once; only their
//! SHA-256 is stored (they carry 190 bits, so no salt is needed to resist guessing).
use crate::auth::TokenGrant;
use crate::schema::{data_token_permissions as tp, data_tokens as t};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct DataToken {
    pub id: i64,
    pub token_hash: String,
    pub token_masked: String,
    pub data_token_bk_app_code: String,
    pub bk_app_code: String,
    pub status: String,
    pub description: String,
    pub expired_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tp)]
pub struct DataTokenPermission {
    pub id: i64,
    pub token_id: i64,
    pub action_id: String,
    pub object_class: String,
    pub scope_id_key: String,
    pub scope_object_class: String,
    pub scope_id: String,
    pub scope: Value,
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// One permission to grant.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPermission {
    pub action_id: String,
    pub object_class: String,
    pub scope_id_key: String,
    pub scope_object_class: String,
    pub scope_id: String,
    pub scope: Value,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token: 32 letters and digits.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// BKData shows a token as its first and last four characters.
pub fn mask(token: &str) -> String {
    let n = token.chars().count();
    if n <= 8 {
        return "*".repeat(n);
    }
    let head: String = token.chars().take(4).collect();
    let tail: String = token.chars().skip(n - 4).collect();
    format!("{head}********{tail}")
}

/// Store a token and its permissions; answers the row.
#[allow(clippy::too_many_arguments)]
pub fn insert(
    conn: &mut PgConnection,
    token: &str,
    data_token_bk_app_code: &str,
    owner_app: &str,
    username: &str,
    description: &str,
    expired_at: DateTime<Utc>,
    permissions: &[NewPermission],
) -> QueryResult<DataToken> {
    conn.transaction(|conn| {
        let row: DataToken = diesel::insert_into(t::table)
            .values((
                t::token_hash.eq(hash_token(token)),
                t::token_masked.eq(mask(token)),
                t::data_token_bk_app_code.eq(data_token_bk_app_code),
                t::bk_app_code.eq(owner_app),
                t::description.eq(description),
                t::expired_at.eq(expired_at),
                t::created_by.eq(username),
                t::updated_by.eq(username),
            ))
            .returning(DataToken::as_returning())
            .get_result(conn)?;
        add_permissions(conn, row.id, username, permissions)?;
        Ok(row)
    })
}

/// Add permissions (already held ones stay as they are).
pub fn add_permissions(
    conn: &mut PgConnection,
    token_id: i64,
    username: &str,
    permissions: &[NewPermission],
) -> QueryResult<()> {
    for p in permissions {
        diesel::insert_into(tp::table)
            .values((
                tp::token_id.eq(token_id),
                tp::action_id.eq(&p.action_id),
                tp::object_class.eq(&p.object_class),
                tp::scope_id_key.eq(&p.scope_id_key),
                tp::scope_object_class.eq(&p.scope_object_class),
                tp::scope_id.eq(&p.scope_id),
                tp::scope.eq(&p.scope),
                tp::created_by.eq(username),
                tp::updated_by.eq(username),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    diesel::update(t::table.find(token_id))
        .set((
            t::updated_by.eq(username),
            t::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut PgConnection, id: i64) -> QueryResult<Option<DataToken>> {
    t::table
        .find(id)
        .select(DataToken::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_token(conn: &mut PgConnection, token: &str) -> QueryResult<Option<DataToken>> {
    t::table
        .filter(t::token_hash.eq(hash_token(token)))
        .select(DataToken::as_select())
        .first(conn)
        .optional()
}

pub fn permissions(
    conn: &mut PgConnection,
    token_id: i64,
) -> QueryResult<Vec<DataTokenPermission>> {
    tp::table
        .filter(tp::token_id.eq(token_id))
        .order(tp::id)
        .select(DataTokenPermission::as_select())
        .load(conn)
}

/// The tokens an app created.
pub fn list(conn: &mut PgConnection, owner_app: &str) -> QueryResult<Vec<DataToken>> {
    t::table
        .filter(t::bk_app_code.eq(owner_app))
        .order(t::id)
        .select(DataToken::as_select())
        .load(conn)
}

/// What a presented token grants now.
pub fn grant(conn: &mut PgConnection, token: &DataToken) -> QueryResult<TokenGrant> {
    let permissions = permissions(conn, token.id)?
        .into_iter()
        .filter(|p| p.status == "active")
        .map(|p| (p.action_id, p.scope_object_class, p.scope_id))
        .collect();
    Ok(TokenGrant {
        token_id: token.id,
        permissions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_masked() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        let m = mask(&a);
        assert_eq!(&m[..4], &a[..4]);
        assert_eq!(&m[m.len() - 4..], &a[28..]);
        assert!(m.contains("********"));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}

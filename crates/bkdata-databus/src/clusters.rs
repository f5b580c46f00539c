//! Storage clusters (`/v3/storekit/clusters/`): where result tables are shipped. Connection
//! secrets are stored and never returned; a PUT without them (or with the redacted mask) keeps
//! the stored ones. A default PostgreSQL cluster (the platform's own database) always exists.
use crate::error::DatabusError;
use crate::rawdata::bk_time;
use bkdata_api::databus::{ClusterInfo, ClusterRequest};
use bkdata_models::auth::Caller;
use bkdata_models::databus::StorageCluster;
use bkdata_models::schema::storage_clusters as s;
use diesel::prelude::*;
use serde_json::{json, Map, Value};

pub const CLUSTER_TYPES: [&str; 7] = [
    "postgresql",
    "mysql",
    "tspider",
    "redis",
    "es",
    "queue",
    "alert",
];
pub const DEFAULT_POSTGRES: &str = "default-postgresql";
const MASK: &str = "******";

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "api_key"]
        .iter()
        .any(|s| k.contains(s))
}

pub fn view(x: &StorageCluster) -> ClusterInfo {
    let mut conn = x.connection.as_object().cloned().unwrap_or_default();
    let mut has_secret = false;
    for (k, v) in conn.iter_mut() {
        if is_secret(k) && !v.is_null() {
            *v = json!(MASK);
            has_secret = true;
        }
    }
    ClusterInfo {
        cluster_name: x.cluster_name.clone(),
        cluster_type: x.cluster_type.clone(),
        connection_info: conn,
        has_password: has_secret,
        description: x.description.clone(),
        is_default: x.is_default,
        created_by: x.created_by.clone(),
        created_at: Some(bk_time(x.created_at)),
        updated_by: x.updated_by.clone(),
        updated_at: Some(bk_time(x.updated_at)),
    }
}

/// A cluster's connection settings without its secrets (not even masked): what may be shown
/// to anyone who may read a table on it.
pub fn public_connection(x: &StorageCluster) -> Map<String, Value> {
    let mut conn = x.connection.as_object().cloned().unwrap_or_default();
    conn.retain(|k, _| !is_secret(k));
    conn
}

fn check_type(t: &str) -> Result<(), DatabusError> {
    if CLUSTER_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(DatabusError::field(
            "cluster_type",
            format!(
                "unsupported cluster_type {t:?}: use one of {}",
                CLUSTER_TYPES.join(", ")
            ),
        ))
    }
}

/// `connection_info` as an object or a JSON string, checked for what each type needs.
fn connection(t: &str, v: Option<&Value>) -> Result<Map<String, Value>, DatabusError> {
    let m = match v {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(s).map_err(|e| {
            DatabusError::field(
                "connection_info",
                format!("connection_info is not a JSON object: {e}"),
            )
        })?,
        None | Some(Value::Null) if t == "queue" || t == "alert" => Map::new(),
        _ => {
            return Err(DatabusError::field(
                "connection_info",
                "connection_info is required (an object)",
            ))
        }
    };
    let need: &[&str] = match t {
        "postgresql" | "mysql" | "tspider" => &["host", "port", "user"],
        "redis" | "es" => &["host", "port"],
        _ => &[],
    };
    for k in need {
        if m.get(*k).is_none_or(|v| v.is_null() || v == "") {
            return Err(DatabusError::field(
                "connection_info",
                format!("a {t} cluster needs connection_info.{k}"),
            ));
        }
    }
    if let Some(p) = m.get("port") {
        let ok = p
            .as_u64()
            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            .is_some_and(|p| (1..=65535).contains(&p));
        if !ok {
            return Err(DatabusError::field(
                "connection_info",
                "connection_info.port must be 1..65535",
            ));
        }
    }
    Ok(m)
}

pub fn create(
    conn: &mut PgConnection,
    caller: &Caller,
    body: &ClusterRequest,
) -> Result<StorageCluster, DatabusError> {
    let name = body
        .cluster_name
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_string();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(DatabusError::field(
            "cluster_name",
            "cluster_name is required: a letter or digit, then letters, digits, '_' or '-' (at most 64)",
        ));
    }
    let t = body.cluster_type.as_deref().unwrap_or("");
    check_type(t)?;
    let c = connection(
        t,
        body.connection_info.as_ref().or(body.connection.as_ref()),
    )?;
    diesel::insert_into(s::table)
        .values((
            s::cluster_name.eq(&name),
            s::cluster_type.eq(t),
            s::connection.eq(Value::Object(c)),
            s::description.eq(body.description.as_deref().unwrap_or("")),
            s::created_by.eq(&caller.username),
            s::updated_by.eq(&caller.username),
        ))
        .on_conflict(s::cluster_name)
        .do_nothing()
        .returning(StorageCluster::as_returning())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| DatabusError::AlreadyExists(format!("cluster {name} already exists")))
}

pub fn list(
    conn: &mut PgConnection,
    cluster_type: Option<&str>,
) -> Result<Vec<StorageCluster>, DatabusError> {
    let mut q = s::table.into_boxed();
    if let Some(t) = cluster_type {
        check_type(t)?;
        q = q.filter(s::cluster_type.eq(t.to_string()));
    }
    Ok(q.order((s::cluster_type, s::cluster_name))
        .select(StorageCluster::as_select())
        .load(conn)?)
}

pub fn get(
    conn: &mut PgConnection,
    cluster_type: &str,
    name: &str,
) -> Result<StorageCluster, DatabusError> {
    s::table
        .find(name)
        .filter(s::cluster_type.eq(cluster_type))
        .select(StorageCluster::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            DatabusError::NotFound(format!("{cluster_type} cluster {name} does not exist"))
        })
}

pub fn update(
    conn: &mut PgConnection,
    caller: &Caller,
    cluster_type: &str,
    name: &str,
    body: &ClusterRequest,
) -> Result<StorageCluster, DatabusError> {
    let old = get(conn, cluster_type, name)?;
    let mut c = match body.connection_info.as_ref().or(body.connection.as_ref()) {
        None => old.connection.as_object().cloned().unwrap_or_default(),
        v => connection(cluster_type, v)?,
    };
    // Secrets not sent (or sent back masked) stay as they were.
    for (k, v) in old.connection.as_object().into_iter().flatten() {
        if is_secret(k) && c.get(k).is_none_or(|n| n == MASK) {
            c.insert(k.clone(), v.clone());
        }
    }
    diesel::update(s::table.find(name))
        .set((
            s::connection.eq(Value::Object(c)),
            s::description.eq(body.description.as_deref().unwrap_or(&old.description)),
            s::updated_by.eq(&caller.username),
            s::updated_at.eq(chrono::Utc::now()),
        ))
        .execute(conn)?;
    get(conn, cluster_type, name)
}

pub fn delete(conn: &mut PgConnection, cluster_type: &str, name: &str) -> Result<(), DatabusError> {
    let x = get(conn, cluster_type, name)?;
    if x.is_default {
        return Err(DatabusError::field(
            "cluster_name",
            format!("{name} is the default {cluster_type} cluster and cannot be deleted"),
        ));
    }
    diesel::delete(s::table.find(name)).execute(conn)?;
    Ok(())
}

/// `postgres://user:password@host:port/database?…` as connection settings.
pub fn postgres_connection(url: &str) -> Map<String, Value> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (creds, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = creds
        .split_once(':')
        .map_or((creds, None), |(u, p)| (u, Some(p)));
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let (host, port) = hostport
        .rsplit_once(':')
        .map_or((hostport, "5432"), |(h, p)| (h, p));
    let mut m = Map::new();
    m.insert("host".into(), json!(host));
    m.insert("port".into(), json!(port.parse::<u16>().unwrap_or(5432)));
    m.insert(
        "user".into(),
        json!(if user.is_empty() { "postgres" } else { user }),
    );
    if let Some(p) = password {
        m.insert("password".into(), json!(p));
    }
    m.insert("database".into(), json!(db.split('?').next().unwrap_or("")));
    m
}

/// Create the default PostgreSQL cluster (the platform's own database) when none exists.
pub fn ensure_default_postgres(
    conn: &mut PgConnection,
    database_url: &str,
) -> Result<(), DatabusError> {
    diesel::insert_into(s::table)
        .values((
            s::cluster_name.eq(DEFAULT_POSTGRES),
            s::cluster_type.eq("postgresql"),
            s::connection.eq(Value::Object(postgres_connection(database_url))),
            s::description.eq("the platform's own PostgreSQL (created at start)"),
            s::is_default.eq(true),
            s::created_by.eq("bkdata"),
            s::updated_by.eq("bkdata"),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    // The alert path is a storage too: rows of a result table shipped there become events.
    diesel::insert_into(s::table)
        .values((
            s::cluster_name.eq("default-alert"),
            s::cluster_type.eq("alert"),
            s::connection.eq(Value::Object(Map::new())),
            s::description.eq("the platform's alert path: rows become events (created at start)"),
            s::is_default.eq(true),
            s::created_by.eq("bkdata"),
            s::updated_by.eq("bkdata"),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_connection_settings() {
        let m = postgres_connection("postgres://app:s3cret@db.local:6432/bkdata?sslmode=disable");
        assert_eq!(
            Value::Object(m),
            json!({"host": "db.local", "port": 6432, "user": "app", "password": "s3cret", "database": "bkdata"})
        );
        let m = postgres_connection("postgres://postgres@127.0.0.1/bkdata");
        assert_eq!(m["port"], 5432);
        assert!(m.get("password").is_none());
    }
}

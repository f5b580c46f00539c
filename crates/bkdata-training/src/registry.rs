//! Business databases by name: the seed's `APP_DB_CONFIG` plus named others. From
//! `BKDATA_BUSINESS_DBS_FILE` (TOML) and `BKDATA_APP_DB_URL` (the default, named by
//! `BKDATA_APP_DB_NAME` or its database name). URLs carry secrets: they are never logged,
//! answered or written to task files; `redacted` and `view` show them without the password.
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Deserialize)]
pub struct BusinessDb {
    pub url: String,
    #[serde(default)]
    pub description: String,
}

/// Without the password: settings get logged.
impl std::fmt::Debug for BusinessDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusinessDb")
            .field("url", &redacted(&self.url))
            .field("description", &self.description)
            .finish()
    }
}

/// What the API shows of a database: never the password.
pub use bkdata_api::pipeline::BusinessDatabase as BusinessDbView;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub databases: BTreeMap<String, BusinessDb>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read business database settings {path}: {message}")]
    File { path: String, message: String },
    #[error("unknown db_name {0:?}: known are {1}")]
    Unknown(String, String),
    #[error("no db_name given and no default business database (set BKDATA_APP_DB_URL)")]
    NoDefault,
}

use bkdata_models::env::var as env;

/// The parts of a `postgres://user:password@host:port/database?…` URL.
pub fn url_parts(url: &str) -> (String, String, u16, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = auth.split(':').next().unwrap_or_default().to_string();
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let db = db.split('?').next().unwrap_or_default().to_string();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(5432)),
        None => (hostport.to_string(), 5432),
    };
    (user, host, port, db)
}

/// The URL with its password replaced, for messages.
pub fn redacted(url: &str) -> String {
    let (user, host, port, db) = url_parts(url);
    let scheme = url.split_once("://").map_or("postgres", |(s, _)| s);
    format!("{scheme}://{user}@{host}:{port}/{db}")
}

impl Registry {
    pub fn from_env() -> Result<Self, RegistryError> {
        let mut r = match env("BKDATA_BUSINESS_DBS_FILE") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| RegistryError::File {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                toml::from_str::<Registry>(&text).map_err(|e| RegistryError::File {
                    path,
                    message: e.to_string(),
                })?
            }
            None => Registry::default(),
        };
        if let Some(url) = env("BKDATA_APP_DB_URL") {
            let name = env("BKDATA_APP_DB_NAME").unwrap_or_else(|| url_parts(&url).3);
            r.databases.insert(
                name.clone(),
                BusinessDb {
                    url,
                    description: "APP_DB_CONFIG".into(),
                },
            );
            r.default.get_or_insert(name);
        }
        Ok(r)
    }

    /// The database a task names, or the default.
    pub fn resolve(&self, db_name: Option<&str>) -> Result<(String, &BusinessDb), RegistryError> {
        let name = match db_name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => self.default.clone().ok_or(RegistryError::NoDefault)?,
        };
        match self.databases.get(&name) {
            Some(db) => Ok((name, db)),
            None => Err(RegistryError::Unknown(
                name,
                if self.databases.is_empty() {
                    "none (set BKDATA_APP_DB_URL or BKDATA_BUSINESS_DBS_FILE)".into()
                } else {
                    self.databases
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            )),
        }
    }

    pub fn views(&self) -> Vec<BusinessDbView> {
        self.databases
            .iter()
            .map(|(name, db)| {
                let (user, host, port, database) = url_parts(&db.url);
                BusinessDbView {
                    db_name: name.clone(),
                    host,
                    port,
                    database,
                    user,
                    description: db.description.clone(),
                    is_default: self.default.as_deref() == Some(name),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        let u = "postgres://app:s3cret@db.local:6432/highway?sslmode=disable";
        assert_eq!(
            url_parts(u),
            ("app".into(), "db.local".into(), 6432, "highway".into())
        );
        assert_eq!(redacted(u), "postgres://app@db.local:6432/highway");
        assert!(!redacted(u).contains("s3cret"));
    }

    #[test]
    fn resolve_by_name_or_default() {
        let r: Registry = toml::from_str(
            "default = \"a\"\n[databases.a]\nurl = \"postgres://u:p@h/a\"\n[databases.b]\nurl = \"postgres://u@h/b\"\n",
        )
        .unwrap();
        assert_eq!(r.resolve(None).unwrap().0, "a");
        assert_eq!(r.resolve(Some("b")).unwrap().0, "b");
        let e = r.resolve(Some("c")).unwrap_err().to_string();
        assert!(e.contains("\"c\"") && e.contains("a, b"), "{e}");
        assert!(r.views().iter().all(|v| v.user == "u"));
    }
}

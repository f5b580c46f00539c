//! Profiles: a TOML file of named profiles (`$BKDATA_CONFIG`, else
//! `~/.config/bkdata/config.toml`), then the environment over it.
//!
//! ```toml
//! [default]
//! url = "http://127.0.0.1:8084"        # this platform; or api_gateway = "https://paas…" + env = "prod"
//! app_code = "demo"
//! app_secret = "…"
//! username = "admin"
//! # data_token = "…"                   # BKData token auth instead of user auth
//! # tenant_id = "default"
//! # timeout_s = 60
//! ```
use bkdata_api::client::{AuthMethod, BkDataClient};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Profile {
    pub url: Option<String>,
    pub api_gateway: Option<String>,
    pub env: Option<String>,
    pub app_code: Option<String>,
    pub app_secret: Option<String>,
    pub username: Option<String>,
    pub data_token: Option<String>,
    pub tenant_id: Option<String>,
    pub timeout_s: Option<u64>,
}

pub fn config_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BKDATA_CONFIG") {
        return Some(PathBuf::from(p));
    }
    std::env::var("HOME")
        .ok()
        .map(|h| PathBuf::from(h).join(".config/bkdata/config.toml"))
}

fn text(t: &toml::Table, k: &str) -> Option<String> {
    t.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

/// The profile `name` from the file (if any), with `BKDATA_*` variables over it.
pub fn load(name: &str) -> Result<Profile, String> {
    let mut p = Profile::default();
    if let Some(path) = config_path().filter(|p| p.exists()) {
        let raw = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: toml::Table = raw
            .parse()
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
        match doc.get(name).and_then(|v| v.as_table()) {
            Some(t) => {
                p.url = text(t, "url");
                p.api_gateway = text(t, "api_gateway");
                p.env = text(t, "env");
                p.app_code = text(t, "app_code");
                p.app_secret = text(t, "app_secret");
                p.username = text(t, "username");
                p.data_token = text(t, "data_token");
                p.tenant_id = text(t, "tenant_id");
                p.timeout_s = t
                    .get("timeout_s")
                    .and_then(|v| v.as_integer())
                    .map(|v| v as u64);
            }
            None if name != "default" => {
                return Err(format!("no profile [{name}] in {}", path.display()))
            }
            None => {}
        }
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    p.url = env("BKDATA_URL").or(p.url);
    p.app_code = env("BKDATA_APP_CODE").or(p.app_code);
    p.app_secret = env("BKDATA_APP_SECRET").or(p.app_secret);
    p.username = env("BKDATA_USERNAME").or(p.username);
    p.data_token = env("BKDATA_DATA_TOKEN").or(p.data_token);
    p.tenant_id = env("BKDATA_TENANT_ID").or(p.tenant_id);
    if let Some(t) = env("BKDATA_TIMEOUT_S") {
        p.timeout_s = Some(
            t.parse()
                .map_err(|_| format!("BKDATA_TIMEOUT_S must be seconds, got {t:?}"))?,
        );
    }
    Ok(p)
}

impl Profile {
    pub fn client(&self) -> Result<BkDataClient, String> {
        let mut b = BkDataClient::builder();
        b = match (&self.url, &self.api_gateway) {
            (Some(u), _) => b.base_url(u),
            (None, Some(g)) => b.api_gateway(g, self.env.as_deref().unwrap_or("prod")),
            (None, None) => {
                return Err(
                    "no server: set BKDATA_URL or `url` in the profile (see `bkdata config`)"
                        .into(),
                )
            }
        };
        let code = self.app_code.as_deref().ok_or(
            "no app: set BKDATA_APP_CODE and BKDATA_APP_SECRET, or app_code/app_secret in the profile",
        )?;
        b = b.app(code, self.app_secret.as_deref().unwrap_or_default());
        if let Some(u) = &self.username {
            b = b.username(u);
        }
        if let Some(t) = &self.data_token {
            b = b.auth_method(AuthMethod::Token(t.clone()));
        }
        if let Some(t) = &self.tenant_id {
            b = b.tenant_id(t);
        }
        if let Some(s) = self.timeout_s {
            b = b.timeout(Duration::from_secs(s));
        }
        b.build().map_err(|e| e.to_string())
    }
}

//! Where the client calls ([`Roots`]) and how it is set up ([`ClientBuilder`]).
use super::{AuthMethod, BkDataClient, Error, Inner};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API roots, one per module.
#[derive(Debug, Clone, PartialEq)]
pub struct Roots {
    pub databus_v3: String,
    pub databus_v4: String,
    pub dataflow: String,
    pub access: String,
    pub meta: String,
    pub storekit: String,
    pub dataquery: String,
    pub queryengine: String,
    pub auth: String,
    pub resourcecenter: String,
    /// The data pipeline API of seed 002 (`/api/v0/data_pipeline/`).
    pub pipeline: String,
}

impl Roots {
    /// Every module under one base: this platform's server (`{base}/v3/databus/`, …).
    pub fn base(base: &str) -> Self {
        let b = base.trim_end_matches('/');
        Roots {
            databus_v3: format!("{b}/v3/databus/"),
            databus_v4: format!("{b}/v4/databus/"),
            dataflow: format!("{b}/v3/dataflow/"),
            access: format!("{b}/v3/access/"),
            meta: format!("{b}/v3/meta/"),
            storekit: format!("{b}/v3/storekit/"),
            dataquery: format!("{b}/v3/dataquery/"),
            queryengine: format!("{b}/v3/queryengine/"),
            auth: format!("{b}/v3/auth/"),
            resourcecenter: format!("{b}/v3/resourcecenter/"),
            pipeline: format!("{b}/api/v0/data_pipeline/"),
        }
    }

    /// BKData behind the BlueKing API gateway: `{host}/api/bk-base/{env}/v3|v4/{module}/`.
    pub fn api_gateway(host: &str, env: &str) -> Self {
        let h = host.trim_end_matches('/');
        let v3 = |m: &str| format!("{h}/api/bk-base/{env}/v3/{m}/");
        Roots {
            databus_v3: v3("databus"),
            databus_v4: format!("{h}/api/bk-base/{env}/v4/databus/"),
            dataflow: v3("dataflow"),
            access: v3("access"),
            meta: v3("meta"),
            storekit: v3("storekit"),
            dataquery: v3("dataquery"),
            queryengine: v3("queryengine"),
            auth: v3("auth"),
            resourcecenter: v3("resourcecenter"),
            pipeline: format!("{h}/api/v0/data_pipeline/"),
        }
    }
}

pub(super) type TenantOf = Arc<dyn Fn(i64) -> String + Send + Sync>;

pub struct ClientBuilder {
    roots: Option<Roots>,
    app_code: Option<String>,
    app_secret: Option<String>,
    username: String,
    auth: AuthMethod,
    tenant_id: String,
    tenant_of: Option<TenantOf>,
    timeout: Duration,
    create_flow_timeout: Duration,
    retries: u32,
    cache_ttl: Duration,
}

impl Default for ClientBuilder {
    /// User `admin`, user authentication, tenant `default`, 60 s timeouts (300 s for
    /// `create_flow`), 2 retries, a 60 s cache.
    fn default() -> Self {
        ClientBuilder {
            roots: None,
            app_code: None,
            app_secret: None,
            username: "admin".into(),
            auth: AuthMethod::User,
            tenant_id: "default".into(),
            tenant_of: None,
            timeout: Duration::from_secs(60),
            create_flow_timeout: Duration::from_secs(300),
            retries: 2,
            cache_ttl: Duration::from_secs(60),
        }
    }
}

impl ClientBuilder {
    /// This platform's server (or anything with the same paths).
    pub fn base_url(mut self, base: &str) -> Self {
        self.roots = Some(Roots::base(base));
        self
    }

    pub fn api_gateway(mut self, host: &str, env: &str) -> Self {
        self.roots = Some(Roots::api_gateway(host, env));
        self
    }

    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = Some(roots);
        self
    }

    pub fn app(mut self, code: &str, secret: &str) -> Self {
        self.app_code = Some(code.to_string());
        self.app_secret = Some(secret.to_string());
        self
    }

    /// The user calls are made as (`bk_username`, `operator`); default `admin`.
    pub fn username(mut self, user: &str) -> Self {
        self.username = user.to_string();
        self
    }

    pub fn auth_method(mut self, m: AuthMethod) -> Self {
        self.auth = m;
        self
    }

    /// The static tenant (`BK_APP_TENANT_ID`, default `default`), sent when a call names no
    /// business, and by `databus_clean_debug`.
    pub fn tenant_id(mut self, t: &str) -> Self {
        self.tenant_id = t.to_string();
        self
    }

    /// A business's tenant; by default every business is in the static tenant.
    pub fn tenant_of(mut self, f: impl Fn(i64) -> String + Send + Sync + 'static) -> Self {
        self.tenant_of = Some(Arc::new(f));
        self
    }

    /// Per-call timeout (default 60 s, as bklog's dataflow module).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// `create_flow`'s timeout (default 300 s, as bklog).
    pub fn create_flow_timeout(mut self, t: Duration) -> Self {
        self.create_flow_timeout = t;
        self
    }

    /// Retries of idempotent calls (GET, PUT, DELETE) after a connection failure, a timeout,
    /// a 502/503/504 or BKData's code 1500503; default 2, with backoff from 200 ms.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// How long cached GETs (`get_config_db_list`) are kept; default 60 s, zero to disable.
    pub fn cache_ttl(mut self, t: Duration) -> Self {
        self.cache_ttl = t;
        self
    }

    pub fn build(self) -> Result<BkDataClient, Error> {
        let roots = self
            .roots
            .ok_or_else(|| Error::Config("no server: set base_url or api_gateway".into()))?;
        let app_code = self
            .app_code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::Config("no app code: set app(code, secret)".into()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let static_tenant = self.tenant_id.clone();
        Ok(BkDataClient {
            inner: Arc::new(Inner {
                http,
                roots,
                app_code,
                app_secret: self.app_secret.unwrap_or_default(),
                username: self.username,
                auth: self.auth,
                tenant_id: self.tenant_id,
                tenant_of: self
                    .tenant_of
                    .unwrap_or_else(|| Arc::new(move |_| static_tenant.clone())),
                timeout: self.timeout,
                create_flow_timeout: self.create_flow_timeout,
                retries: self.retries,
                cache_ttl: self.cache_ttl,
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }
}

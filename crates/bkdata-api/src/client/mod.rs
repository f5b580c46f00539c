//! A client of the BKData API with bklog's method names (`get_cleans`, `create_flow`, …),
//! for this platform's server and a real BKData alike.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bkdata_api::client::Error> {
//! use bkdata_api::client::BkDataClient;
//! use bkdata_api::dataflow::{CreateFlowRequest, DeployRequest};
//! let client = BkDataClient::builder()
//!     .base_url("http://127.0.0.1:8084") // or .api_gateway("https://paas.example.com", "prod")
//!     .app("my-app", "my-secret")
//!     .username("admin")
//!     .build()?;
//! let flow = client
//!     .create_flow(&CreateFlowRequest { project_id: 1, flow_name: "data-test".into(), ..Default::default() })
//!     .await?;
//! client.start_flow(flow.flow_id, &DeployRequest::default()).await?;
//! # Ok(()) }
//! ```
//!
//! Every call carries what BKData expects (wire reference §1.4): the `X-Bkapi-Authorization`
//! header (JSON of app code, secret and user), `X-Bk-Tenant-Id`, `X-Request-Id` and
//! `X-DATA-REQUEST-ID`, and the params `bk_app_code`, `bk_username`, `operator` and
//! `bkdata_authentication_method` (`user`, or `token` with `bkdata_data_token`). GET params
//! travel in the query string, other methods' in a JSON body. The envelope is unwrapped:
//! `result=false` is [`Error::Api`] with `code`, `message` and `errors`; HTTP failures,
//! unreadable answers and timeouts are their own variants.
mod auth;
mod builder;
mod databus;
mod dataflow;
mod pipeline;
mod storekit;

use builder::TenantOf;
pub use builder::{ClientBuilder, Roots};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a call can fail with; each a distinct case a caller (or the CLI's exit code) can
/// tell apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered `result: false` (or the pipeline API `success: false`).
    #[error("{message} (code {code})")]
    Api {
        code: String,
        message: String,
        errors: Option<Value>,
        /// The HTTP status it came with.
        status: u16,
    },
    /// Credentials refused (HTTP 401/403, or BKData's auth codes).
    #[error("authentication failed: {message}")]
    Auth { message: String },
    /// A non-success HTTP status without a readable envelope (e.g. a 502 from a gateway).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// The answer is not the JSON expected.
    #[error("unreadable answer from {url}: {message}")]
    Decode { url: String, message: String },
    /// No answer in time.
    #[error("no answer from {url} within {secs} s")]
    Timeout { url: String, secs: u64 },
    /// The server could not be reached.
    #[error("cannot reach {url}: {message}")]
    Connect { url: String, message: String },
    /// The client is misconfigured (a missing setting).
    #[error("client settings: {0}")]
    Config(String),
}

/// How BKData authorizes the user (`bkdata_authentication_method`).
#[derive(Debug, Clone, PartialEq)]
pub enum AuthMethod {
    User,
    /// A data token: sent as `bkdata_data_token`.
    Token(String),
}

struct Inner {
    http: reqwest::Client,
    roots: Roots,
    app_code: String,
    app_secret: String,
    username: String,
    auth: AuthMethod,
    tenant_id: String,
    tenant_of: TenantOf,
    timeout: Duration,
    create_flow_timeout: Duration,
    retries: u32,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Value)>>,
}

/// A BKData API client. Cloning shares the connection pool and the cache.
#[derive(Clone)]
pub struct BkDataClient {
    inner: Arc<Inner>,
}

/// Which envelope a call answers in.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Envelope {
    BkData,
    Pipeline,
}

/// Where a call's tenant comes from (wire reference §1.2).
#[derive(Clone)]
pub(crate) enum Tenant {
    /// The static tenant id.
    Static,
    /// The business in `bk_biz_id` of the params (or the static tenant without one).
    FromBiz,
    /// The business prefix of a result table id (`591_system_proc` → 591).
    FromTable(String),
}

/// One call.
pub(crate) struct Call {
    pub method: reqwest::Method,
    pub url: String,
    pub params: Value,
    pub tenant: Tenant,
    pub envelope: Envelope,
    pub cached: bool,
    pub timeout: Option<Duration>,
}

impl Call {
    pub fn new(method: reqwest::Method, url: String, params: Value) -> Self {
        Call {
            method,
            url,
            params,
            tenant: Tenant::FromBiz,
            envelope: Envelope::BkData,
            cached: false,
            timeout: None,
        }
    }

    pub fn tenant(mut self, t: Tenant) -> Self {
        self.tenant = t;
        self
    }
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A failure to get an answer at all: a timeout, or no connection.
fn transport(e: reqwest::Error, url: &str, timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout {
            url: url.to_string(),
            secs: timeout.as_secs(),
        }
    } else {
        Error::Connect {
            url: url.to_string(),
            message: e.to_string(),
        }
    }
}

/// Worth another try: no answer, a gateway's 502-504, or BKData's "unavailable" (1500503,
/// which BKData answers with HTTP 200).
fn transient(r: &Result<Value, Error>) -> bool {
    match r {
        Err(Error::Connect { .. } | Error::Timeout { .. }) => true,
        Err(Error::Http { status, .. }) => (502..=504).contains(status),
        Err(Error::Api { code, .. }) => code == "1500503",
        _ => false,
    }
}

fn biz_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl BkDataClient {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub fn roots(&self) -> &Roots {
        &self.inner.roots
    }

    /// Drop every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.lock().expect("cache lock").clear();
    }

    /// The params every call carries, merged under the caller's (§1.4).
    fn with_injected(&self, params: Value) -> Map<String, Value> {
        let i = &self.inner;
        let mut m = match params {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                let mut m = Map::new();
                m.insert("data".into(), other);
                m
            }
        };
        let user = match &i.auth {
            AuthMethod::User => i.username.clone(),
            // With a data token BKData acts for the token; bklog sends admin as the user.
            AuthMethod::Token(_) => "admin".to_string(),
        };
        m.entry("bk_app_code")
            .or_insert_with(|| i.app_code.clone().into());
        m.entry("bk_username")
            .or_insert_with(|| user.clone().into());
        m.entry("operator").or_insert_with(|| user.into());
        match &i.auth {
            AuthMethod::User => {
                m.entry("bkdata_authentication_method")
                    .or_insert_with(|| "user".into());
            }
            AuthMethod::Token(t) => {
                m.insert("bkdata_authentication_method".into(), "token".into());
                m.insert("bkdata_data_token".into(), t.clone().into());
            }
        }
        m
    }

    fn tenant_for(&self, t: &Tenant, params: &Map<String, Value>) -> String {
        let i = &self.inner;
        let biz = match t {
            Tenant::Static => None,
            Tenant::FromBiz => params.get("bk_biz_id").and_then(biz_of),
            Tenant::FromTable(rt) => rt.split('_').next().and_then(|b| b.parse().ok()),
        };
        biz.map_or_else(|| i.tenant_id.clone(), |b| (i.tenant_of)(b))
    }

    /// Send a call: headers and params as BKData expects, retries for idempotent methods,
    /// the envelope unwrapped. Answers `data`.
    pub(crate) async fn send(&self, call: Call) -> Result<Value, Error> {
        let i = &self.inner;
        // BKData calls carry bklog's params; the pipeline API takes only its own.
        let params = if call.envelope == Envelope::BkData {
            self.with_injected(call.params)
        } else {
            match call.params {
                Value::Object(m) => m,
                _ => Map::new(),
            }
        };
        let tenant = self.tenant_for(&call.tenant, &params);
        let is_get = call.method == reqwest::Method::GET;
        let cache_key = format!("{} {}", call.url, Value::Object(params.clone()));
        if call.cached && is_get && !i.cache_ttl.is_zero() {
            if let Some((at, v)) = i.cache.lock().expect("cache lock").get(&cache_key) {
                if at.elapsed() < i.cache_ttl {
                    return Ok(v.clone());
                }
            }
        }
        let idempotent = matches!(
            call.method,
            reqwest::Method::GET | reqwest::Method::PUT | reqwest::Method::DELETE
        );
        let timeout = call.timeout.unwrap_or(i.timeout);
        let bklog_request_id = request_id();
        let mut attempt = 0u32;
        loop {
            let request_id = request_id();
            let user = params
                .get("bk_username")
                .and_then(Value::as_str)
                .unwrap_or(&i.username);
            let auth = serde_json::json!({
                "bk_app_code": i.app_code, "bk_app_secret": i.app_secret, "bk_username": user,
            });
            let mut req = i
                .http
                .request(call.method.clone(), &call.url)
                .timeout(timeout)
                .header("X-Bkapi-Authorization", auth.to_string())
                .header("X-Bk-Tenant-Id", &tenant)
                .header("X-Request-Id", &request_id)
                .header("X-DATA-REQUEST-ID", &request_id)
                .header("blueking-language", "en");
            if is_get {
                let mut q: Vec<(String, String)> = params
                    .iter()
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), s)
                    })
                    .collect();
                if call.envelope == Envelope::BkData {
                    q.push(("bklog_request_id".into(), bklog_request_id.clone()));
                }
                req = req.query(&q);
            } else {
                if call.envelope == Envelope::BkData {
                    req = req.query(&[("bklog_request_id", &bklog_request_id)]);
                }
                req = req
                    .header("Content-Type", "application/json; charset=utf-8")
                    .body(Value::Object(params.clone()).to_string());
            }
            let result = self.read(req, &call.url, call.envelope, timeout).await;
            let retry = idempotent && attempt < i.retries && transient(&result);
            if retry {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                attempt += 1;
                continue;
            }
            if let (Ok(v), true) = (&result, call.cached && is_get) {
                i.cache
                    .lock()
                    .expect("cache lock")
                    .insert(cache_key, (Instant::now(), v.clone()));
            }
            return result;
        }
    }

    /// `send`, answering `data` as a wire type.
    pub(crate) async fn send_typed<T: serde::de::DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<T, Error> {
        let url = call.url.clone();
        typed(&url, self.send(call).await?)
    }

    async fn read(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        envelope: Envelope,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let resp = req.send().await.map_err(|e| transport(e, url, timeout))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| transport(e, url, timeout))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let Some(Value::Object(body)) = body else {
            if !(200..300).contains(&status) {
                return Err(Error::Http {
                    status,
                    body: text.chars().take(300).collect(),
                });
            }
            return Err(Error::Decode {
                url: url.to_string(),
                message: format!(
                    "not a JSON object: {}",
                    text.chars().take(120).collect::<String>()
                ),
            });
        };
        let ok_key = if envelope == Envelope::Pipeline {
            "success"
        } else {
            "result"
        };
        let text_of = |k: &str| match body.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        match body.get(ok_key) {
            // A body without `result` is a success (§1.4).
            None if (200..300).contains(&status) => {
                Ok(body.get("data").cloned().unwrap_or(Value::Object(body)))
            }
            Some(Value::Bool(true)) if (200..300).contains(&status) => {
                Ok(body.get("data").cloned().unwrap_or(Value::Null))
            }
            _ => {
                let code = text_of("code");
                let message = text_of("message");
                // 1511401 (and HTTP 401/403) are BKData's and the pipeline API's auth errors.
                if status == 401 || status == 403 || code.starts_with("1511") {
                    return Err(Error::Auth { message });
                }
                if body.get(ok_key).is_none() {
                    return Err(Error::Http {
                        status,
                        body: text.chars().take(300).collect(),
                    });
                }
                Err(Error::Api {
                    code,
                    message,
                    errors: body
                        .get(if envelope == Envelope::Pipeline {
                            "details"
                        } else {
                            "errors"
                        })
                        .cloned()
                        .filter(|e| !e.is_null()),
                    status,
                })
            }
        }
    }

    fn auth_header(&self) -> String {
        let i = &self.inner;
        serde_json::json!({"bk_app_code": i.app_code, "bk_app_secret": i.app_secret,
            "bk_username": i.username})
        .to_string()
    }

    /// A call whose body is not JSON (ingest: one record a line). Not retried.
    /// A body that is not JSON (NDJSON ingest, a text upload), answered in `envelope`.
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        url: String,
        body: Vec<u8>,
        content_type: &str,
        envelope: Envelope,
    ) -> Result<Value, Error> {
        let i = &self.inner;
        let id = request_id();
        let req = i
            .http
            .request(method, &url)
            .timeout(i.timeout)
            .header("X-Bkapi-Authorization", self.auth_header())
            .header("X-Bk-Tenant-Id", &i.tenant_id)
            .header("X-Request-Id", &id)
            .header("X-DATA-REQUEST-ID", &id)
            .header("Content-Type", content_type)
            .body(body);
        self.read(req, &url, envelope, i.timeout).await
    }

    /// A GET answering bytes (a file download); errors as other calls.
    pub(crate) async fn get_bytes(&self, url: String) -> Result<Vec<u8>, Error> {
        let i = &self.inner;
        let resp = i
            .http
            .get(&url)
            .timeout(i.timeout)
            .header("X-Bkapi-Authorization", self.auth_header())
            .send()
            .await
            .map_err(|e| transport(e, &url, i.timeout))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(e, &url, i.timeout))?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or_default().to_string();
        Err(match status {
            401 | 403 => Error::Auth { message },
            _ if body.is_object() => Error::Api {
                code: body["code"].to_string(),
                message,
                errors: body.get("details").cloned(),
                status,
            },
            _ => Error::Http {
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            },
        })
    }

    fn url(root: &str, path: &str) -> String {
        format!("{root}{}", path.trim_start_matches('/'))
    }
}

/// An answer's `data` as a wire type.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(url: &str, v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// A JSON object of the given pairs, without the `None`s.
pub(crate) fn params(pairs: &[(&str, Option<Value>)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
            .collect(),
    )
}

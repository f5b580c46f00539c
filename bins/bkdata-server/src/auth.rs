//! Every request but `/healthz` and `/metrics` carries an app (`bk_app_code` + secret) and a
//! user (`bk_username`), as bklog sends them (wire reference §1.4): the
//! `X-Bkapi-Authorization` JSON header, the `X-Bk-App-Code`/`X-Bk-App-Secret` headers, query
//! params, or fields of a JSON body (seed 004 puts them in the body). The body is read here,
//! once, under the size limit, and handed on.
use crate::error::{for_path, ApiError};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bkdata_databus::DatabusError;
use bkdata_models::auth::App;
use bkdata_pipeline::Caller;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Apps are read from Postgres at most once per TTL per code.
const APP_CACHE_TTL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct AppCache {
    apps: Mutex<HashMap<String, (Option<App>, Instant)>>,
}

#[derive(Default, Debug)]
struct Credentials {
    app_code: Option<String>,
    app_secret: Option<String>,
    username: Option<String>,
    /// `bkdata_authentication_method` (`user` or `token`) and `bkdata_data_token`.
    method: Option<String>,
    data_token: Option<String>,
}

impl Credentials {
    fn fill(&mut self, code: Option<&str>, secret: Option<&str>, user: Option<&str>) {
        let take = |slot: &mut Option<String>, v: Option<&str>| {
            if slot.is_none() {
                *slot = v.filter(|s| !s.is_empty()).map(str::to_string);
            }
        };
        take(&mut self.app_code, code);
        take(&mut self.app_secret, secret);
        take(&mut self.username, user);
    }

    fn fill_from_map(&mut self, get: impl Fn(&str) -> Option<String>) {
        self.fill(
            get("bk_app_code").as_deref(),
            get("bk_app_secret").as_deref(),
            get("bk_username").as_deref(),
        );
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        if self.method.is_none() {
            self.method = non_empty(get("bkdata_authentication_method"));
        }
        if self.data_token.is_none() {
            self.data_token = non_empty(get("bkdata_data_token"));
        }
    }
}

fn read_credentials(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Credentials, String> {
    let mut c = Credentials::default();
    if let Some(raw) = headers.get("x-bkapi-authorization") {
        let v: Value = raw
            .to_str()
            .ok()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or("X-Bkapi-Authorization must be a JSON object")?;
        c.fill_from_map(|k| v.get(k).and_then(Value::as_str).map(str::to_string));
    }
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    c.fill(h("x-bk-app-code"), h("x-bk-app-secret"), None);
    if let Some(q) = query {
        let params: HashMap<String, String> = url_pairs(q);
        c.fill_from_map(|k| params.get(k).cloned());
    }
    if !body.is_empty()
        && (c.app_code.is_none()
            || c.app_secret.is_none()
            || c.username.is_none()
            || c.method.is_none())
    {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            c.fill_from_map(|k| map.get(k).and_then(Value::as_str).map(str::to_string));
        }
    }
    Ok(c)
}

fn url_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((dec(k)?, dec(v)?))
        })
        .collect()
}

fn unauthorized(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", msg).at_gateway()
}

async fn lookup_app(state: &AppState, code: &str) -> Result<Option<App>, ApiError> {
    if let Some((app, at)) = state.apps.apps.lock().unwrap().get(code) {
        if at.elapsed() < APP_CACHE_TTL {
            return Ok(app.clone());
        }
    }
    let c = code.to_string();
    let app = bkdata_models::db::blocking(&state.pool, move |conn| {
        bkdata_models::auth::find_app(conn, &c).map_err(|e| {
            ApiError::from(DatabusError::unavailable(format!(
                "database unavailable: {e}"
            )))
        })
    })
    .await
    // Refused before any API ran: BKData's gateway answers 503 itself.
    .map_err(|e| {
        if e.status == StatusCode::SERVICE_UNAVAILABLE {
            e.at_gateway()
        } else {
            e
        }
    })?;
    state
        .apps
        .apps
        .lock()
        .unwrap()
        .insert(code.to_string(), (app.clone(), Instant::now()));
    Ok(app)
}

pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    state.metrics.count_request();
    if path == "/healthz" || path == "/metrics" || crate::console::is_console_path(&path) {
        return next.run(req).await;
    }
    match check(&state, req).await {
        Ok(req) => {
            let resp = next.run(req).await;
            state.metrics.count_status(resp.status());
            resp
        }
        Err(e) => {
            let resp = for_path(e, &path).into_response();
            state.metrics.count_status(resp.status());
            resp
        }
    }
}

async fn check(state: &AppState, req: Request) -> Result<Request, ApiError> {
    // Ingest bodies carry records and have their own, larger limit.
    let limit = if crate::rawdata_api::is_ingest_path(req.uri().path()) {
        state.config.max_ingest_bytes
    } else {
        state.config.max_body_bytes
    };
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
        .details(json!({"max_body_bytes": limit}))
        .at_gateway()
    };
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let creds =
        read_credentials(&parts.headers, parts.uri.query(), &bytes).map_err(unauthorized)?;
    let (Some(code), Some(secret)) = (creds.app_code, creds.app_secret) else {
        return Err(unauthorized(
            "authentication required: send bk_app_code and bk_app_secret (X-Bkapi-Authorization header, or params)",
        ));
    };
    let Some(username) = creds.username else {
        return Err(unauthorized("bk_username is required"));
    };
    let app = lookup_app(state, &code).await?;
    match app {
        Some(app) if app.is_active && app.verify(&secret) => {}
        _ => {
            return Err(unauthorized(format!(
                "app {code:?} is unknown or its secret is wrong"
            )))
        }
    }
    let token = match creds.method.as_deref() {
        None | Some("user") => None,
        Some("token") => {
            let Some(data_token) = creds.data_token else {
                return Err(ApiError::from(DatabusError::Denied {
                    code: "1511002",
                    message:
                        "bkdata_authentication_method is token but no bkdata_data_token was sent"
                            .into(),
                }));
            };
            let app = code.clone();
            let grant = crate::request::db(state, move |conn| {
                bkdata_databus::auth::present_token(conn, &app, &data_token)
            })
            .await?;
            if !token_may_call(&parts.method, parts.uri.path()) {
                return Err(ApiError::from(DatabusError::denied(format!(
                    "a data token authorizes data queries and reads of the result tables it \
                     grants; {} {} needs user authentication (bkdata_authentication_method=user)",
                    parts.method,
                    parts.uri.path()
                ))));
            }
            Some(std::sync::Arc::new(grant))
        }
        Some(other) => {
            return Err(ApiError::from(DatabusError::Denied {
                code: "1511008",
                message: format!(
                    "bkdata_authentication_method must be user or token, not {other:?}"
                ),
            }))
        }
    };
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Caller {
        app_code: code,
        username,
        token,
    });
    Ok(req)
}

/// The calls a data token can make: queries, reads of result tables' metadata, and its own
/// token (each handler then limits them to what the token grants).
fn token_may_call(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let get = method == Method::GET;
    match path {
        "/v3/dataquery/query/" | "/v3/queryengine/query_sync/" | "/v3/auth/tokens/check/" => {
            method == Method::POST
        }
        p if p.starts_with("/v3/meta/result_tables/") => get,
        p if p.starts_with("/v3/auth/tokens/") => get,
        p if p.starts_with("/v3/auth/users/") && p.ends_with("/scopes/") => get,
        _ => false,
    }
}

//! An Elasticsearch stand-in for tests, speaking the documented REST protocol the driver uses
//! (Elasticsearch cannot be installed on this machine): `PUT /{index}` (create, with
//! `resource_already_exists_exception` when it exists), `POST /_bulk` (NDJSON `index` and `update` actions,
//! per-item `status` and `error`, top-level `errors`), `GET|PUT /{index}/_doc/{id}`,
//! `GET /_cat/indices/{pattern}?format=json`, `DELETE /{index}`, `POST /{index}/_delete_by_query`
//! with a `range … lt` query, `GET|POST /{patterns}/_search` (comma-separated patterns with
//! `*`, `size`, `match_all` or `term` queries, `hits.total.value`) and `GET /{patterns}/_mapping`,
//! honouring `ignore_unavailable`. It checks documents against `long`/`integer` mappings as ES does
//! (numbers or numeric strings; otherwise `mapper_parsing_exception`), and can answer 429 to
//! chosen items once, as a node under write pressure does.
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct EsState {
    /// index → mappings.properties
    pub indices: BTreeMap<String, Map<String, Value>>,
    /// (index, id) → document
    pub docs: BTreeMap<(String, String), Value>,
    /// Every `_bulk` item received, in order: (index, id).
    pub received: Vec<(String, String)>,
    /// Items answered 429 (each only once).
    pub throttled: HashSet<(String, String)>,
    /// Answer 429 the first time an item whose id hashes to 0 modulo this arrives (0 = never).
    pub throttle_every: u64,
    /// Items with these ids are refused for good (400, `mapper_parsing_exception`).
    pub refuse_ids: HashSet<String>,
    /// alias → index, from index creation bodies.
    pub aliases: BTreeMap<String, String>,
    pub bulk_requests: u64,
    /// Every `_search` and `_mapping` path asked, with its query string.
    pub reads: Vec<String>,
}

#[derive(Clone)]
pub struct FakeEs {
    pub state: Arc<Mutex<EsState>>,
    pub port: u16,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl FakeEs {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(EsState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        FakeEs {
            state,
            port,
            _stop: Arc::new(tx),
        }
    }

    pub fn docs_in(&self, index_prefix: &str) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.docs
            .iter()
            .filter(|((i, _), _)| i.starts_with(index_prefix))
            .map(|(_, d)| d.clone())
            .collect()
    }
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "reason": reason}, "status": status.as_u16()})),
    )
        .into_response()
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((a, b)) => name.len() >= a.len() + b.len() && name.starts_with(a) && name.ends_with(b),
    }
}

/// ES's check of a document against `long`/`integer` mappings (with its string coercion).
fn mapping_error(props: &Map<String, Value>, doc: &Value) -> Option<String> {
    for (field, m) in props {
        let Some(v) = doc.get(field) else { continue };
        let numeric = matches!(m["type"].as_str(), Some("long" | "integer"));
        let ok = !numeric
            || v.is_null()
            || v.as_i64().is_some()
            || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok());
        if !ok {
            return Some(format!(
                "failed to parse field [{field}] of type [{}] in document",
                m["type"].as_str().unwrap_or("")
            ));
        }
    }
    None
}

fn bulk(s: &mut EsState, body: &str) -> Response {
    s.bulk_requests += 1;
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.len().is_multiple_of(2) {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let mut items = Vec::new();
    let mut errors = false;
    for pair in lines.chunks(2) {
        let (Ok(action), Ok(doc)) = (
            serde_json::from_str::<Value>(pair[0]),
            serde_json::from_str::<Value>(pair[1]),
        ) else {
            return error(
                StatusCode::BAD_REQUEST,
                "parse_exception",
                "bad NDJSON line",
            );
        };
        // `index` puts the document; `update` merges `doc` into it (`doc_as_upsert`: or puts it).
        let (meta, update) = match (action.get("index"), action.get("update")) {
            (Some(m), _) => (m, false),
            (None, Some(m)) => (m, true),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "illegal_argument_exception",
                    "only index and update actions are expected",
                )
            }
        };
        let kind = if update { "update" } else { "index" };
        let index = meta["_index"].as_str().unwrap_or("").to_string();
        let id = meta["_id"].as_str().unwrap_or("").to_string();
        s.received.push((index.clone(), id.clone()));
        let key = (index.clone(), id.clone());
        let hash = id
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        if s.throttle_every > 0 && hash % s.throttle_every == 0 && s.throttled.insert(key.clone()) {
            errors = true;
            items.push(json!({kind: {"_index": index, "_id": id, "status": 429,
                "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}}}));
            continue;
        }
        if s.refuse_ids.contains(&id) {
            errors = true;
            items.push(json!({kind: {"_index": index, "_id": id, "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": "refused by the test"}}}));
            continue;
        }
        let doc = if update {
            let patch = doc["doc"].clone();
            match (s.docs.get(&key), doc["doc_as_upsert"].as_bool()) {
                (Some(old), _) => {
                    let mut merged = old.clone();
                    if let (Some(m), Some(p)) = (merged.as_object_mut(), patch.as_object()) {
                        for (k, v) in p {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    merged
                }
                (None, Some(true)) => patch,
                (None, _) => {
                    errors = true;
                    items.push(json!({kind: {"_index": index, "_id": id, "status": 404,
                        "error": {"type": "document_missing_exception", "reason": "document missing"}}}));
                    continue;
                }
            }
        } else {
            doc
        };
        let props = s.indices.entry(index.clone()).or_default().clone();
        if let Some(reason) = mapping_error(&props, &doc) {
            errors = true;
            items.push(json!({kind: {"_index": index, "_id": id, "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": reason}}}));
            continue;
        }
        let existed = s.docs.insert(key, doc).is_some();
        items.push(
            json!({kind: {"_index": index, "_id": id, "status": if existed { 200 } else { 201 },
            "result": if existed { "updated" } else { "created" }}}),
        );
    }
    Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}

/// The indices of comma-separated patterns; `None` (a 404) when a name without `*` is not an
/// index and `ignore_unavailable` is not set.
fn matched(s: &EsState, patterns: &str, ignore_unavailable: bool) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for p in patterns.split(',') {
        let hit: Vec<String> = s.indices.keys().filter(|i| glob(p, i)).cloned().collect();
        if hit.is_empty() && !p.contains('*') && !ignore_unavailable {
            return None;
        }
        out.extend(hit);
    }
    out.sort();
    out.dedup();
    Some(out)
}

fn search(s: &EsState, indices: &[String], body: &Value) -> Response {
    let size = body["size"].as_u64().unwrap_or(10) as usize;
    let term = body["query"]["term"]
        .as_object()
        .and_then(|m| m.iter().next());
    let hits: Vec<Value> = s
        .docs
        .iter()
        .filter(|((i, _), _)| indices.contains(i))
        .filter(|(_, d)| {
            term.is_none_or(|(f, v)| {
                let want = v.get("value").unwrap_or(v);
                &d[f.as_str()] == want
            })
        })
        .map(|((i, id), d)| json!({"_index": i, "_id": id, "_score": 1.0, "_source": d}))
        .collect();
    let total = hits.len();
    Json(json!({
        "took": 1, "timed_out": false,
        "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0},
        "hits": {"total": {"value": total, "relation": "eq"}, "max_score": 1.0,
                 "hits": hits.into_iter().take(size).collect::<Vec<_>>()},
    }))
    .into_response()
}

async fn handle(State(state): State<Arc<Mutex<EsState>>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches('/').to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ignore_unavailable = query.contains("ignore_unavailable=true");
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).to_string();
    let mut s = state.lock().unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    match (method, parts.as_slice()) {
        (Method::POST, ["_bulk"]) => bulk(&mut s, &text),
        (Method::GET | Method::POST, [patterns, op @ ("_search" | "_mapping")]) => {
            s.reads.push(format!("{path}?{query}"));
            let Some(indices) = matched(&s, patterns, ignore_unavailable) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "index_not_found_exception",
                    &format!("no such index [{patterns}]"),
                );
            };
            if *op == "_search" {
                let body: Value = serde_json::from_str(&text).unwrap_or(json!({}));
                return search(&s, &indices, &body);
            }
            let out: Map<String, Value> = indices
                .iter()
                .map(|i| (i.clone(), json!({"mappings": {"properties": s.indices[i]}})))
                .collect();
            Json(Value::Object(out)).into_response()
        }
        (Method::GET, ["_cat", "indices", pattern]) => {
            let list: Vec<Value> = s
                .indices
                .keys()
                .filter(|i| glob(pattern, i))
                .map(|i| json!({"index": i}))
                .collect();
            Json(json!(list)).into_response()
        }
        (Method::PUT, [index]) => {
            if s.indices.contains_key(*index) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "resource_already_exists_exception",
                    &format!("index [{index}] already exists"),
                );
            }
            let v: Value = serde_json::from_str(&text).unwrap_or(json!({}));
            let props = v["mappings"]["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for alias in v["aliases"].as_object().into_iter().flat_map(|a| a.keys()) {
                s.aliases.insert(alias.clone(), index.to_string());
            }
            s.indices.insert(index.to_string(), props);
            Json(json!({"acknowledged": true, "index": index})).into_response()
        }
        (Method::DELETE, [index]) => {
            if s.indices.remove(*index).is_none() {
                return error(
                    StatusCode::NOT_FOUND,
                    "index_not_found_exception",
                    "no such index",
                );
            }
            s.docs.retain(|(i, _), _| i != index);
            Json(json!({"acknowledged": true})).into_response()
        }
        (Method::GET, [index, "_doc", id]) => {
            match s.docs.get(&(index.to_string(), id.to_string())) {
                Some(d) => Json(json!({"_index": index, "_id": id, "found": true, "_source": d}))
                    .into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    Json(json!({"_index": index, "_id": id, "found": false})),
                )
                    .into_response(),
            }
        }
        (Method::PUT, [index, "_doc", id]) => {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            s.indices.entry(index.to_string()).or_default();
            s.docs.insert((index.to_string(), id.to_string()), v);
            Json(json!({"_index": index, "_id": id, "result": "updated"})).into_response()
        }
        (Method::POST, [index, "_delete_by_query"]) => {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let Some((field, range)) = v["query"]["range"]
                .as_object()
                .and_then(|m| m.iter().next())
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "parsing_exception",
                    "a range query is expected",
                );
            };
            let lt = range["lt"].as_i64().unwrap_or(i64::MIN);
            let before = s.docs.len();
            s.docs
                .retain(|(i, _), d| i != index || d[field].as_i64().is_none_or(|t| t >= lt));
            Json(json!({"deleted": before - s.docs.len()})).into_response()
        }
        _ => error(StatusCode::BAD_REQUEST, "no_handler_found_exception", &path),
    }
}

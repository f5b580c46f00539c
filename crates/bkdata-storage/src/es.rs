//! Elasticsearch through its documented HTTP API: `PUT /{index}` with mappings, `POST /_bulk`
//! (NDJSON `index` actions). Document ids are stream positions, so a replay overwrites rather
//! than duplicates. Items answered 429 are retried with backoff (the rest of the batch is not
//! resent); items refused for good (mapping errors…) are returned as dead letters. An index name
//! may carry `{yyyyMMdd}`: each row goes to the index of its day, and expiry drops whole days.
use crate::{cell, conn_port, conn_str, Cell, ColType, DeadLetter, Result, Row, StorageError};
use crate::{TableSpec, WriteReport, OFFSETS_TABLE, TIME_COLUMN};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const DAY: &str = "{yyyyMMdd}";
/// Bulk bodies are cut at this size.
const MAX_BULK: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct EsOptions {
    /// Retries of items answered 429 (or of a whole request answered 429/502/503/504).
    pub max_retries: u32,
    pub retry_base: Duration,
    pub timeout: Duration,
}

impl Default for EsOptions {
    fn default() -> Self {
        EsOptions {
            max_retries: 8,
            retry_base: Duration::from_millis(200),
            timeout: Duration::from_secs(60),
        }
    }
}

/// An Elasticsearch cluster's HTTP API: requests with its credentials, and `_bulk` with the
/// retry rules every writer shares (429s retried with backoff, refusals reported per item).
#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, Option<String>)>,
    opts: EsOptions,
}

/// What `_bulk` did with each item of a round.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkItem {
    Done,
    /// 429 or 503: send again.
    Retry,
    /// Refused for good: `HTTP {status} {type}: {reason}`.
    Refused(String),
}

/// A whole `bulk_all`: items written, and the items refused for good with why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BulkReport {
    pub written: usize,
    pub refused: Vec<(usize, String)>,
}

impl EsClient {
    /// `connection_info` of an `es` cluster: host, port (9200), scheme, user, password.
    pub fn connect(conn: &Map<String, Value>, opts: EsOptions) -> Result<Self> {
        let scheme = conn_str(conn, "scheme").unwrap_or("http");
        let host = conn_str(conn, "host")
            .ok_or_else(|| StorageError::Config("an es cluster needs a host".into()))?;
        let base = format!("{scheme}://{host}:{}", conn_port(conn, 9200));
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .build()
            .map_err(|e| StorageError::Config(format!("es client: {e}")))?;
        let auth = conn_str(conn, "user").map(|u| {
            (
                u.to_string(),
                conn_str(conn, "password").map(str::to_string),
            )
        });
        Ok(EsClient {
            http,
            base,
            auth,
            opts,
        })
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}/{path}", self.base));
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, p.as_deref()),
            None => r,
        }
    }

    /// A read (`GET {path}`, or `POST {path}` with a JSON body): the status and the answer.
    /// Only for reading calls (`_search`, `_mapping`); the caller builds `path` from names it
    /// has checked.
    pub async fn read(&self, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let r = match body {
            Some(b) => self.req(reqwest::Method::POST, path).json(b),
            None => self.req(reqwest::Method::GET, path),
        };
        let r = r
            .send()
            .await
            .map_err(|e| StorageError::Connect(format!("es: {e}")))?;
        let status = r.status().as_u16();
        let answer: Value = r
            .json()
            .await
            .map_err(|e| StorageError::Query(format!("es answered {status} without JSON: {e}")))?;
        Ok((status, answer))
    }

    /// `PUT /{index}` with `body`; an index that exists already is fine.
    pub async fn create_index(&self, index: &str, body: &Value) -> Result<()> {
        let r = self
            .req(reqwest::Method::PUT, index)
            .json(body)
            .send()
            .await
            .map_err(|e| StorageError::Connect(format!("es: {e}")))?;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        let exists = answer["error"]["type"] == "resource_already_exists_exception";
        if !status.is_success() && !exists {
            return Err(StorageError::Write(format!(
                "creating index {index}: HTTP {status}: {answer}"
            )));
        }
        Ok(())
    }

    /// One `_bulk` round over `items` (indices into `lines`: action and document lines), cut
    /// into bodies of at most `MAX_BULK`; answers each item's fate in `items` order.
    pub async fn bulk_round(
        &self,
        lines: &[(String, String)],
        items: &[usize],
    ) -> Result<Vec<BulkItem>> {
        let mut out = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            let mut body = String::new();
            let mut end = start;
            while end < items.len() && (end == start || body.len() < MAX_BULK) {
                let (action, doc) = &lines[items[end]];
                body.push_str(action);
                body.push('\n');
                body.push_str(doc);
                body.push('\n');
                end += 1;
            }
            let chunk = &items[start..end];
            start = end;
            let r = self
                .req(reqwest::Method::POST, "_bulk")
                .header("Content-Type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .map_err(|e| StorageError::Connect(format!("es _bulk: {e}")))?;
            let status = r.status().as_u16();
            if matches!(status, 429 | 502..=504) {
                out.extend(chunk.iter().map(|_| BulkItem::Retry));
                continue;
            }
            let v: Value = r.json().await.map_err(werr("es _bulk answer"))?;
            if !(200..300).contains(&status) {
                return Err(StorageError::Write(format!("es _bulk: HTTP {status}: {v}")));
            }
            let answers = v["items"].as_array().cloned().unwrap_or_default();
            if answers.len() != chunk.len() {
                return Err(StorageError::Write(format!(
                    "es _bulk answered {} items for {} sent",
                    answers.len(),
                    chunk.len()
                )));
            }
            for a in &answers {
                let a = a
                    .as_object()
                    .and_then(|o| o.values().next())
                    .cloned()
                    .unwrap_or(Value::Null);
                out.push(match a["status"].as_u64().unwrap_or(0) {
                    200..=299 => BulkItem::Done,
                    429 | 503 => BulkItem::Retry,
                    s => {
                        let e = &a["error"];
                        BulkItem::Refused(format!(
                            "HTTP {s} {}: {}",
                            e["type"].as_str().unwrap_or("error"),
                            e["reason"].as_str().unwrap_or(&e.to_string())
                        ))
                    }
                });
            }
        }
        Ok(out)
    }

    /// Every line written, 429s retried with backoff up to `max_retries`; refusals reported.
    pub async fn bulk_all(&self, lines: &[(String, String)]) -> Result<BulkReport> {
        let mut report = BulkReport::default();
        let mut pending: Vec<usize> = (0..lines.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let fates = self.bulk_round(lines, &pending).await?;
            let mut retry = Vec::new();
            for (i, fate) in pending.iter().zip(fates) {
                match fate {
                    BulkItem::Done => report.written += 1,
                    BulkItem::Retry => retry.push(*i),
                    BulkItem::Refused(e) => report.refused.push((*i, e)),
                }
            }
            pending = retry;
            if pending.is_empty() {
                break;
            }
            if attempt >= self.opts.max_retries {
                return Err(StorageError::Write(format!(
                    "es kept answering 429 for {} items after {} retries",
                    pending.len(),
                    attempt
                )));
            }
            tokio::time::sleep(self.opts.retry_base * 2u32.pow(attempt.min(6))).await;
            attempt += 1;
        }
        Ok(report)
    }
}

pub struct EsSink {
    client: EsClient,
    spec: TableSpec,
    /// Column of the event time (picks a row's daily index).
    time_col: Option<usize>,
    shipper: String,
    created: HashSet<String>,
}

fn mapping_type(t: ColType) -> &'static str {
    match t {
        ColType::Int => "integer",
        ColType::Long => "long",
        ColType::Double => "double",
        ColType::String => "keyword",
        ColType::Text => "text",
    }
}

fn werr(what: &str) -> impl Fn(reqwest::Error) -> StorageError + '_ {
    move |e| StorageError::Write(format!("{what}: {e}"))
}

/// `{yyyyMMdd}` of a millisecond timestamp, UTC.
fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y%m%d")
        .to_string()
}

impl EsSink {
    pub fn connect(
        conn: &Map<String, Value>,
        spec: TableSpec,
        shipper: &str,
        opts: EsOptions,
    ) -> Result<Self> {
        Ok(EsSink {
            client: EsClient::connect(conn, opts)?,
            time_col: crate::col_index(&spec, TIME_COLUMN),
            spec,
            shipper: shipper.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_"),
            created: HashSet::new(),
        })
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.req(method, path)
    }

    fn index_for(&self, r: &Row) -> String {
        if !self.spec.physical.contains(DAY) {
            return self.spec.physical.clone();
        }
        let ms = self
            .time_col
            .and_then(|i| r.values.get(i))
            .and_then(Value::as_i64)
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        self.spec.physical.replace(DAY, &day_of(ms))
    }

    async fn create_index(&mut self, index: &str) -> Result<()> {
        if self.created.contains(index) {
            return Ok(());
        }
        let props: Map<String, Value> = self
            .spec
            .columns
            .iter()
            .map(|c| (c.name.clone(), json!({"type": mapping_type(c.ty)})))
            .collect();
        self.client
            .create_index(index, &json!({"mappings": {"properties": props}}))
            .await?;
        self.created.insert(index.to_string());
        Ok(())
    }

    pub async fn ensure(&mut self) -> Result<()> {
        if self.spec.physical.contains(DAY) {
            let today = self
                .spec
                .physical
                .replace(DAY, &day_of(chrono::Utc::now().timestamp_millis()));
            self.create_index(&today).await
        } else {
            let i = self.spec.physical.clone();
            self.create_index(&i).await
        }
    }

    pub async fn committed(&mut self) -> Result<u64> {
        let r = self
            .req(
                reqwest::Method::GET,
                &format!("{OFFSETS_TABLE}/_doc/{}", self.shipper),
            )
            .send()
            .await
            .map_err(|e| StorageError::Connect(format!("es: {e}")))?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(0);
        }
        if !r.status().is_success() {
            return Err(StorageError::Write(format!(
                "reading the shipper position: HTTP {}",
                r.status()
            )));
        }
        let v: Value = r
            .json()
            .await
            .map_err(werr("reading the shipper position"))?;
        Ok(v["_source"]["seq"].as_u64().unwrap_or(0))
    }

    fn doc(&self, r: &Row) -> String {
        let mut doc = Map::with_capacity(self.spec.columns.len());
        for (i, c) in self.spec.columns.iter().enumerate() {
            let v = match cell(c.ty, r.values.get(i)) {
                Cell::Null => continue,
                Cell::Int(n) => n.into(),
                Cell::Float(f) => f.into(),
                Cell::Str(s) => Value::String(s.into_owned()),
            };
            doc.insert(c.name.clone(), v);
        }
        Value::Object(doc).to_string()
    }

    /// Documents are indexed by position id, not appended: a second writer of the same rows
    /// overwrites them with the same, so no position check is needed (`_from_seq`).
    pub async fn write(
        &mut self,
        rows: &[Row],
        _from_seq: u64,
        last_seq: u64,
    ) -> Result<WriteReport> {
        let mut lines = Vec::with_capacity(rows.len());
        let mut indices = BTreeMap::new();
        for r in rows {
            let index = self.index_for(r);
            let action = json!({"index": {"_index": index, "_id": r.position_id()}}).to_string();
            indices.insert(index, ());
            lines.push((action, self.doc(r)));
        }
        for index in indices.keys() {
            self.create_index(index).await?;
        }
        let bulk = self.client.bulk_all(&lines).await?;
        let mut report = WriteReport {
            written: bulk.written as u64,
            ..WriteReport::default()
        };
        for (i, error) in bulk.refused {
            report.dead.push(DeadLetter {
                seq: rows[i].seq,
                idx: rows[i].idx,
                error,
                document: lines[i].1.clone(),
            });
        }
        let r = self
            .req(
                reqwest::Method::PUT,
                &format!("{OFFSETS_TABLE}/_doc/{}", self.shipper),
            )
            .json(&json!({"seq": last_seq}))
            .send()
            .await
            .map_err(werr("recording the shipper position"))?;
        if !r.status().is_success() {
            return Err(StorageError::Write(format!(
                "recording the shipper position: HTTP {}",
                r.status()
            )));
        }
        Ok(report)
    }

    pub async fn expire(&mut self, now_ms: i64) -> Result<u64> {
        let Some(days) = self.spec.expire_days else {
            return Ok(0);
        };
        let cutoff = now_ms - i64::from(days) * 86_400_000;
        if let Some((prefix, suffix)) = self.spec.physical.split_once(DAY) {
            // Whole days older than the cutoff day go.
            let r = self
                .req(
                    reqwest::Method::GET,
                    &format!("_cat/indices/{prefix}*{suffix}?format=json&h=index"),
                )
                .send()
                .await
                .map_err(werr("listing indices"))?;
            let list: Value = r.json().await.map_err(werr("listing indices"))?;
            let oldest_kept = day_of(cutoff);
            let mut n = 0;
            for i in list.as_array().into_iter().flatten() {
                let Some(name) = i["index"].as_str() else {
                    continue;
                };
                let day = name
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_suffix(suffix))
                    .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
                if day.is_some_and(|d| d < oldest_kept.as_str()) {
                    let r = self
                        .req(reqwest::Method::DELETE, name)
                        .send()
                        .await
                        .map_err(werr("deleting an index"))?;
                    if r.status().is_success() {
                        self.created.remove(name);
                        n += 1;
                    }
                }
            }
            return Ok(n);
        }
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("{}/_delete_by_query", self.spec.physical),
            )
            .json(&json!({"query": {"range": {TIME_COLUMN: {"lt": cutoff}}}}))
            .send()
            .await
            .map_err(werr("expiring documents"))?;
        let v: Value = r.json().await.map_err(werr("expiring documents"))?;
        Ok(v["deleted"].as_u64().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc() {
        assert_eq!(super::day_of(1_795_329_052_000), "20261122");
        assert_eq!(super::day_of(0), "19700101");
    }
}

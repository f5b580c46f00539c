//! Redis: each row is a JSON string under `{prefix}:{key}`, where the key is the row's stream
//! position or, with `key_fields`, the values of those fields (the latest row per key wins).
//! A batch and the shipper's position go in one MULTI/EXEC pipeline; expiry is the key TTL.
use crate::{cell, conn_port, conn_str, Cell, Result, Row, StorageError, TableSpec};
use crate::{WriteReport, OFFSETS_TABLE};
use serde_json::{Map, Value};

pub struct RedisSink {
    conn: redis::aio::MultiplexedConnection,
    spec: TableSpec,
    /// Columns of `spec.key_fields`, in order.
    key_cols: Vec<Option<usize>>,
    offset_key: String,
}

fn err(what: &str) -> impl Fn(redis::RedisError) -> StorageError + '_ {
    move |e| StorageError::Write(format!("{what}: {e}"))
}

impl RedisSink {
    pub async fn connect(
        conn: &Map<String, Value>,
        spec: TableSpec,
        shipper: &str,
    ) -> Result<Self> {
        let host = conn_str(conn, "host").unwrap_or("127.0.0.1");
        let port = conn_port(conn, 6379);
        let db = conn
            .get("db")
            .and_then(|d| {
                d.as_u64()
                    .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        let auth = match conn_str(conn, "password") {
            Some(p) => format!(
                "{}:{}@",
                conn_str(conn, "user").unwrap_or(""),
                urlencoding::encode(p)
            ),
            None => String::new(),
        };
        let client = redis::Client::open(format!("redis://{auth}{host}:{port}/{db}"))
            .map_err(|e| StorageError::Config(format!("redis: {e}")))?;
        // A batch is one MULTI/EXEC of thousands of SETs: the client's default 500 ms answer
        // timeout would report a committed batch as failed (and its counters would be lost).
        let cfg = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(60)))
            .set_connection_timeout(Some(std::time::Duration::from_secs(10)));
        let conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| StorageError::Connect(format!("redis: {e}")))?;
        let prefix = conn_prefix(&spec.physical);
        Ok(RedisSink {
            conn,
            offset_key: format!("{prefix}{OFFSETS_TABLE}:{shipper}"),
            key_cols: spec
                .key_fields
                .iter()
                .map(|f| crate::col_index(&spec, f))
                .collect(),
            spec,
        })
    }

    pub async fn ensure(&mut self) -> Result<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn)
            .await
            .map_err(err("PING"))?;
        Ok(())
    }

    pub async fn committed(&mut self) -> Result<u64> {
        let v: Option<u64> = redis::cmd("GET")
            .arg(&self.offset_key)
            .query_async(&mut self.conn)
            .await
            .map_err(err("reading the shipper position"))?;
        Ok(v.unwrap_or(0))
    }

    fn key(&self, r: &Row) -> String {
        if self.spec.key_fields.is_empty() {
            return format!("{}:{}", self.spec.physical, r.position_id());
        }
        let parts: Vec<String> = self
            .key_cols
            .iter()
            .map(|c| match c.and_then(|i| r.values.get(i)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            })
            .collect();
        format!("{}:{}", self.spec.physical, parts.join("_"))
    }

    /// Keys are set, not appended: a second writer of the same rows sets the same values, so
    /// no position check is needed (`_from_seq`).
    pub async fn write(
        &mut self,
        rows: &[Row],
        _from_seq: u64,
        last_seq: u64,
    ) -> Result<WriteReport> {
        let ttl = self.spec.expire_days.map(|d| u64::from(d) * 86_400);
        let mut p = redis::pipe();
        p.atomic();
        for r in rows {
            let mut doc = Map::with_capacity(self.spec.columns.len());
            for (c, v) in self.spec.columns.iter().zip(&r.values) {
                let v = match cell(c.ty, Some(v)) {
                    Cell::Null => Value::Null,
                    Cell::Int(n) => n.into(),
                    Cell::Float(f) => f.into(),
                    Cell::Str(s) => Value::String(s.into_owned()),
                };
                doc.insert(c.name.clone(), v);
            }
            let cmd = p
                .cmd("SET")
                .arg(self.key(r))
                .arg(Value::Object(doc).to_string());
            if let Some(t) = ttl {
                cmd.arg("EX").arg(t);
            }
            cmd.ignore();
        }
        p.cmd("SET").arg(&self.offset_key).arg(last_seq).ignore();
        p.query_async::<()>(&mut self.conn)
            .await
            .map_err(err("MULTI/EXEC"))?;
        Ok(WriteReport {
            written: rows.len() as u64,
            dead: Vec::new(),
        })
    }
}

/// Offsets live beside the key space: `{prefix}bkdata_ship_offsets:{shipper}`, where the prefix
/// is whatever precedes the result table id in the physical name (`bk:` of `bk:2_app`).
fn conn_prefix(physical: &str) -> &str {
    match physical.rfind(':') {
        Some(i) => &physical[..=i],
        None => "",
    }
}

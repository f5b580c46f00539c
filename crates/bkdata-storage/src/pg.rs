//! PostgreSQL: `COPY … FROM STDIN` (text format) in one transaction with the offset upsert.
use crate::{cell, conn_port, conn_str, Cell, ColType, Result, Row, StorageError, TableSpec};
use crate::{fence, WriteReport, OFFSETS_TABLE, TIME_COLUMN};
use futures_util::SinkExt;
use serde_json::{Map, Value};
use std::fmt::Write as _;

pub struct PgSink {
    client: tokio_postgres::Client,
    schema: String,
    table: String,
    spec: TableSpec,
    shipper: String,
}

pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn sql_type(t: ColType) -> &'static str {
    match t {
        ColType::Int => "INTEGER",
        ColType::Long => "BIGINT",
        ColType::Double => "DOUBLE PRECISION",
        ColType::String | ColType::Text => "TEXT",
    }
}

fn err(what: &str) -> impl Fn(tokio_postgres::Error) -> StorageError + '_ {
    move |e| StorageError::Write(format!("{what}: {e}"))
}

/// COPY text format: backslash escapes for the characters that delimit fields and rows.
fn copy_text(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// A connection to a PostgreSQL cluster from its settings (`host`, `port`, `user`,
/// `password`, `database`).
pub(crate) async fn client(
    conn: &Map<String, Value>,
    application: &str,
) -> Result<tokio_postgres::Client> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(conn_str(conn, "host").unwrap_or("127.0.0.1"))
        .port(conn_port(conn, 5432))
        .user(conn_str(conn, "user").unwrap_or("postgres"))
        .application_name(application);
    if let Some(p) = conn_str(conn, "password") {
        cfg.password(p);
    }
    if let Some(d) = conn_str(conn, "database") {
        cfg.dbname(d);
    }
    cfg.connect_timeout(std::time::Duration::from_secs(10));
    let (client, connection) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| StorageError::Connect(format!("postgresql: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            log::warn!("postgresql storage connection closed: {e}");
        }
    });
    Ok(client)
}

impl PgSink {
    pub async fn connect(
        conn: &Map<String, Value>,
        spec: TableSpec,
        shipper: &str,
    ) -> Result<Self> {
        let (schema, table) = spec
            .physical
            .split_once('.')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .ok_or_else(|| {
                StorageError::Config(format!("{:?} is not schema.table", spec.physical))
            })?;
        let client = client(conn, "bkdata-shipper").await?;
        Ok(PgSink {
            client,
            schema,
            table,
            spec,
            shipper: shipper.to_string(),
        })
    }

    fn full(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }

    fn offsets(&self) -> String {
        format!("{}.{}", quote(&self.schema), OFFSETS_TABLE)
    }

    pub async fn ensure(&mut self) -> Result<()> {
        let cols: Vec<String> = self
            .spec
            .columns
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), sql_type(c.ty)))
            .collect();
        let mut sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {full} ({cols});
             CREATE TABLE IF NOT EXISTS {offsets} (shipper TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now());",
            schema = quote(&self.schema),
            full = self.full(),
            cols = cols.join(", "),
            offsets = self.offsets(),
        );
        for c in &cols {
            let _ = write!(
                sql,
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {c};",
                self.full()
            );
        }
        if self.spec.columns.iter().any(|c| c.name == TIME_COLUMN) {
            // BRIN: rows arrive roughly in time order, expiry scans by range, and a BRIN index
            // costs next to nothing per inserted row (a b-tree was a visible part of COPY).
            let _ = write!(
                sql,
                "CREATE INDEX IF NOT EXISTS {} ON {} USING brin ({});",
                quote(&format!("{}_time", self.table)),
                self.full(),
                quote(TIME_COLUMN)
            );
        }
        // Two creators at once (the API and a shipper) may race on the catalog; the loser's
        // objects exist by the time it retries.
        let mut last = None;
        for _ in 0..3 {
            match self.client.batch_execute(&sql).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(StorageError::Write(format!(
            "creating {}: {}",
            self.spec.physical,
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    pub async fn committed(&mut self) -> Result<u64> {
        // The row exists from here on, so every write can lock it (see `write`).
        self.client
            .execute(
                &format!(
                    "INSERT INTO {} (shipper, seq) VALUES ($1, 0) ON CONFLICT (shipper) DO NOTHING",
                    self.offsets()
                ),
                &[&self.shipper],
            )
            .await
            .map_err(err("recording the shipper position"))?;
        let row = self
            .client
            .query_opt(
                &format!("SELECT seq FROM {} WHERE shipper = $1", self.offsets()),
                &[&self.shipper],
            )
            .await
            .map_err(err("reading the shipper position"))?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64).unwrap_or(0))
    }

    /// Append `rows` and move the position from `from_seq` to `last_seq`, in one transaction
    /// that first locks the position and checks it is still `from_seq`: a writer that lost
    /// its job (its lease ran out while it was busy) cannot append what the new owner wrote.
    pub async fn write(
        &mut self,
        rows: &[Row],
        from_seq: u64,
        last_seq: u64,
    ) -> Result<WriteReport> {
        let mut buf = String::with_capacity(rows.len() * 128);
        for r in rows {
            for (i, (c, v)) in self.spec.columns.iter().zip(&r.values).enumerate() {
                if i > 0 {
                    buf.push('\t');
                }
                match cell(c.ty, Some(v)) {
                    Cell::Null => buf.push_str("\\N"),
                    Cell::Int(n) => {
                        let _ = write!(buf, "{n}");
                    }
                    Cell::Float(f) => {
                        let _ = write!(buf, "{f}");
                    }
                    Cell::Str(s) => copy_text(&mut buf, &s),
                }
            }
            buf.push('\n');
        }
        let names: Vec<String> = self.spec.columns.iter().map(|c| quote(&c.name)).collect();
        let copy = format!("COPY {} ({}) FROM STDIN", self.full(), names.join(", "));
        let upsert = format!(
            "INSERT INTO {} (shipper, seq) VALUES ($1, $2) \
             ON CONFLICT (shipper) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now()",
            self.offsets()
        );
        let lock = format!(
            "SELECT seq FROM {} WHERE shipper = $1 FOR UPDATE",
            self.offsets()
        );
        let shipper = self.shipper.clone();
        let tx = self
            .client
            .transaction()
            .await
            .map_err(err("starting a transaction"))?;
        let at: Option<i64> = tx
            .query_opt(&lock, &[&shipper])
            .await
            .map_err(err("reading the shipper position"))?
            .map(|r| r.get(0));
        fence(&shipper, at.unwrap_or(0) as u64, from_seq)?;
        if !rows.is_empty() {
            let sink = tx
                .copy_in::<_, bytes::Bytes>(&copy)
                .await
                .map_err(err("COPY"))?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::from(buf))
                .await
                .map_err(err("COPY data"))?;
            sink.finish().await.map_err(err("COPY end"))?;
        }
        tx.execute(&upsert, &[&shipper, &(last_seq as i64)])
            .await
            .map_err(err("recording the shipper position"))?;
        tx.commit().await.map_err(err("commit"))?;
        Ok(WriteReport {
            written: rows.len() as u64,
            dead: Vec::new(),
        })
    }

    pub async fn expire(&mut self, now_ms: i64) -> Result<u64> {
        let Some(cutoff) = self.spec.expiry_cutoff(now_ms) else {
            return Ok(0);
        };
        self.client
            .execute(
                &format!(
                    "DELETE FROM {} WHERE {} < $1",
                    self.full(),
                    quote(TIME_COLUMN)
                ),
                &[&cutoff],
            )
            .await
            .map_err(err("expiring rows"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_text_escapes_delimiters() {
        let mut s = String::new();
        super::copy_text(&mut s, "a\tb\nc\\d\re");
        assert_eq!(s, "a\\tb\\nc\\\\d\\re");
        assert_eq!(super::quote("we\"ird"), "\"we\"\"ird\"");
    }
}

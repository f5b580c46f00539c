//! MariaDB / MySQL (`mysql` and `tspider` clusters): multi-row INSERTs of up to ~4 MiB each, in
//! one InnoDB transaction with the offset upsert.
use crate::{cell, conn_port, conn_str, Cell, ColType, Result, Row, StorageError, TableSpec};
use crate::{WriteReport, OFFSETS_TABLE, TIME_COLUMN};
use mysql_async::prelude::*;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Keeps each statement well under MariaDB's default 16 MiB `max_allowed_packet`.
const MAX_STATEMENT: usize = 4 << 20;

pub struct MysqlSink {
    pool: mysql_async::Pool,
    db: String,
    table: String,
    spec: TableSpec,
    shipper: String,
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

fn sql_type(t: ColType) -> &'static str {
    match t {
        ColType::Int => "INT",
        ColType::Long => "BIGINT",
        ColType::Double => "DOUBLE",
        ColType::String | ColType::Text => "TEXT",
    }
}

/// A string literal for the default SQL mode (backslash escapes on).
fn literal(out: &mut String, s: &str) {
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn err(what: &str) -> impl Fn(mysql_async::Error) -> StorageError + '_ {
    move |e| StorageError::Write(format!("{what}: {e}"))
}

/// Connection options of a MariaDB/MySQL cluster from its settings.
pub(crate) fn opts(conn: &Map<String, Value>) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(conn_str(conn, "host").unwrap_or("127.0.0.1"))
        .tcp_port(conn_port(conn, 3306))
        .user(Some(conn_str(conn, "user").unwrap_or("root")))
        .pass(conn_str(conn, "password"))
        .prefer_socket(false)
}

impl MysqlSink {
    pub async fn connect(
        conn: &Map<String, Value>,
        spec: TableSpec,
        shipper: &str,
    ) -> Result<Self> {
        let (db, table) = spec
            .physical
            .split_once('.')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .ok_or_else(|| {
                StorageError::Config(format!("{:?} is not database.table", spec.physical))
            })?;
        let pool = mysql_async::Pool::new(opts(conn));
        // Fail now, not at the first batch, when the server cannot be reached.
        let c = pool
            .get_conn()
            .await
            .map_err(|e| StorageError::Connect(format!("mysql: {e}")))?;
        drop(c);
        Ok(MysqlSink {
            pool,
            db,
            table,
            spec,
            shipper: shipper.to_string(),
        })
    }

    fn full(&self) -> String {
        format!("{}.{}", quote(&self.db), quote(&self.table))
    }

    fn offsets(&self) -> String {
        format!("{}.{}", quote(&self.db), OFFSETS_TABLE)
    }

    async fn conn(&self) -> Result<mysql_async::Conn> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| StorageError::Connect(format!("mysql: {e}")))
    }

    pub async fn ensure(&mut self) -> Result<()> {
        let mut c = self.conn().await?;
        let cols: Vec<String> = self
            .spec
            .columns
            .iter()
            .map(|c| format!("{} {} NULL", quote(&c.name), sql_type(c.ty)))
            .collect();
        let mut body = cols.join(", ");
        if self.spec.columns.iter().any(|c| c.name == TIME_COLUMN) {
            let _ = write!(body, ", KEY `idx_time` ({})", quote(TIME_COLUMN));
        }
        c.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {} DEFAULT CHARACTER SET utf8mb4",
            quote(&self.db)
        ))
        .await
        .map_err(err("creating the database"))?;
        c.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} ({body}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.full()
        ))
        .await
        .map_err(err("creating the table"))?;
        for col in &cols {
            c.query_drop(format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {col}",
                self.full()
            ))
            .await
            .map_err(err("adding a column"))?;
        }
        c.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} (shipper VARCHAR(255) PRIMARY KEY, seq BIGINT NOT NULL, \
             updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) ENGINE=InnoDB",
            self.offsets()
        ))
        .await
        .map_err(err("creating the offsets table"))?;
        Ok(())
    }

    pub async fn committed(&mut self) -> Result<u64> {
        let mut c = self.conn().await?;
        // The row exists from here on, so every write can lock it (see `write`).
        c.exec_drop(
            format!(
                "INSERT IGNORE INTO {} (shipper, seq) VALUES (?, 0)",
                self.offsets()
            ),
            (self.shipper.as_str(),),
        )
        .await
        .map_err(err("recording the shipper position"))?;
        let seq: Option<i64> = c
            .exec_first(
                format!("SELECT seq FROM {} WHERE shipper = ?", self.offsets()),
                (self.shipper.as_str(),),
            )
            .await
            .map_err(err("reading the shipper position"))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn statements(&self, rows: &[Row]) -> Vec<String> {
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.full(),
            self.spec
                .columns
                .iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut out = Vec::new();
        let mut sql = head.clone();
        let mut n = 0;
        for r in rows {
            if n > 0 {
                sql.push(',');
            }
            sql.push('(');
            for (i, (c, v)) in self.spec.columns.iter().zip(&r.values).enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                match cell(c.ty, Some(v)) {
                    Cell::Null => sql.push_str("NULL"),
                    Cell::Int(v) => {
                        let _ = write!(sql, "{v}");
                    }
                    Cell::Float(f) => {
                        let _ = write!(sql, "{f:e}");
                    }
                    Cell::Str(s) => literal(&mut sql, &s),
                }
            }
            sql.push(')');
            n += 1;
            if sql.len() >= MAX_STATEMENT {
                out.push(std::mem::replace(&mut sql, head.clone()));
                n = 0;
            }
        }
        if n > 0 {
            out.push(sql);
        }
        out
    }

    /// As PostgreSQL's: the position is locked and checked to be `from_seq` first.
    pub async fn write(
        &mut self,
        rows: &[Row],
        from_seq: u64,
        last_seq: u64,
    ) -> Result<WriteReport> {
        let statements = self.statements(rows);
        let mut c = self.conn().await?;
        let mut tx = c
            .start_transaction(mysql_async::TxOpts::default())
            .await
            .map_err(err("starting a transaction"))?;
        let at: Option<i64> = tx
            .exec_first(
                format!(
                    "SELECT seq FROM {} WHERE shipper = ? FOR UPDATE",
                    self.offsets()
                ),
                (self.shipper.as_str(),),
            )
            .await
            .map_err(err("reading the shipper position"))?;
        crate::fence(&self.shipper, at.unwrap_or(0) as u64, from_seq)?;
        for s in statements {
            tx.query_drop(s).await.map_err(err("INSERT"))?;
        }
        tx.exec_drop(
            format!(
                "INSERT INTO {} (shipper, seq) VALUES (?, ?) ON DUPLICATE KEY UPDATE seq = VALUES(seq)",
                self.offsets()
            ),
            (self.shipper.as_str(), last_seq as i64),
        )
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
        let mut c = self.conn().await?;
        c.exec_drop(
            format!(
                "DELETE FROM {} WHERE {} < ?",
                self.full(),
                quote(TIME_COLUMN)
            ),
            (cutoff,),
        )
        .await
        .map_err(err("expiring rows"))?;
        Ok(c.affected_rows())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_escape_quotes_and_controls() {
        let mut s = String::new();
        super::literal(&mut s, "it's a \\ \n\0 line");
        assert_eq!(s, "'it\\'s a \\\\ \\n\\0 line'");
    }
}

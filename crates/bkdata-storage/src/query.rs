//! Read-only queries on a storage (the query API): the SQL runs in a read-only transaction
//! with a statement timeout, at most `max_rows + 1` rows are fetched (to tell a truncated
//! answer), and values come back as JSON.
use crate::{mysql, pg, Result, StorageError};
use serde_json::{Map, Number, Value};
use std::time::Duration;

/// Storage types the query API reads.
pub const QUERY_TYPES: [&str; 3] = ["postgresql", "mysql", "tspider"];

#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Column names in the query's order.
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
    /// More rows matched than `max_rows`.
    pub truncated: bool,
}

fn failed(e: impl std::fmt::Display) -> StorageError {
    StorageError::Query(e.to_string())
}

/// PostgreSQL's own message ("canceling statement due to statement timeout", "column … does
/// not exist"), not the driver's "db error".
fn pg_failed(e: tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(db) => StorageError::Query(db.message().to_string()),
        None => failed(e),
    }
}

/// Run `sql` (a single SELECT, already checked and written for this storage) on a cluster.
pub async fn query(
    cluster_type: &str,
    conn: &Map<String, Value>,
    sql: &str,
    max_rows: usize,
    timeout: Duration,
) -> Result<Rows> {
    let run = async {
        match cluster_type {
            "postgresql" => query_pg(conn, sql, max_rows, timeout).await,
            "mysql" | "tspider" => query_mysql(conn, sql, max_rows, timeout).await,
            t => Err(StorageError::Config(format!(
                "the query API reads {} storages, not {t}",
                QUERY_TYPES.join(", ")
            ))),
        }
    };
    // The storage's own timeout stops the statement; this one also bounds connecting.
    tokio::time::timeout(timeout + Duration::from_secs(5), run)
        .await
        .map_err(|_| failed(format!("no answer within {} ms", timeout.as_millis())))?
}

async fn query_pg(
    conn: &Map<String, Value>,
    sql: &str,
    max_rows: usize,
    timeout: Duration,
) -> Result<Rows> {
    let mut client = pg::client(conn, "bkdata-query").await?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(pg_failed)?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis().max(1)
    ))
    .await
    .map_err(pg_failed)?;
    let columns: Vec<String> = tx
        .prepare(sql)
        .await
        .map_err(pg_failed)?
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    // PostgreSQL turns each row into JSON itself, whatever the column types.
    let wrapped = format!(
        "SELECT row_to_json(bkdata_q)::text FROM ({sql}) AS bkdata_q LIMIT {}",
        max_rows + 1
    );
    let found = tx.query(wrapped.as_str(), &[]).await.map_err(pg_failed)?;
    let mut rows = Vec::with_capacity(found.len().min(max_rows));
    for r in found.iter().take(max_rows) {
        let text: String = r.get(0);
        let v: Map<String, Value> = serde_json::from_str(&text).map_err(failed)?;
        rows.push(v);
    }
    tx.rollback().await.map_err(pg_failed)?;
    Ok(Rows {
        columns,
        truncated: found.len() > max_rows,
        rows,
    })
}

fn mysql_value(v: mysql_async::Value, col: &mysql_async::Column) -> Value {
    use mysql_async::consts::ColumnType as T;
    use mysql_async::Value as V;
    match v {
        V::NULL => Value::Null,
        V::Int(i) => Value::from(i),
        V::UInt(u) => Value::from(u),
        V::Float(f) => Number::from_f64(f as f64).map_or(Value::Null, Value::Number),
        V::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        V::Bytes(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            match col.column_type() {
                T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => s
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map_or(Value::String(s), Value::Number),
                _ => Value::String(s),
            }
        }
        V::Date(y, mo, d, h, mi, s, us) => Value::String(if us > 0 {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        } else {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        }),
        V::Time(neg, d, h, mi, s, _) => Value::String(format!(
            "{}{:02}:{mi:02}:{s:02}",
            if neg { "-" } else { "" },
            d * 24 + h as u32
        )),
    }
}

async fn query_mysql(
    conn: &Map<String, Value>,
    sql: &str,
    max_rows: usize,
    timeout: Duration,
) -> Result<Rows> {
    use mysql_async::prelude::Queryable;
    let mut c = mysql_async::Conn::new(mysql::opts(conn))
        .await
        .map_err(|e| StorageError::Connect(format!("mysql: {e}")))?;
    c.query_drop(format!(
        "SET SESSION max_statement_time = {:.3}",
        timeout.as_secs_f64().max(0.001)
    ))
    .await
    .map_err(failed)?;
    c.query_drop("START TRANSACTION READ ONLY")
        .await
        .map_err(failed)?;
    let wrapped = format!("SELECT * FROM ({sql}) AS bkdata_q LIMIT {}", max_rows + 1);
    // The binary protocol answers typed values.
    let mut result = c.exec_iter(wrapped, ()).await.map_err(failed)?;
    let columns: Vec<String> = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let found: Vec<mysql_async::Row> = result.collect().await.map_err(failed)?;
    drop(result);
    let mut rows = Vec::with_capacity(found.len().min(max_rows));
    for r in found.iter().take(max_rows) {
        let cols = r.columns();
        let mut m = Map::new();
        for (i, col) in cols.iter().enumerate() {
            let v = r.as_ref(i).cloned().unwrap_or(mysql_async::Value::NULL);
            m.insert(columns[i].clone(), mysql_value(v, col));
        }
        rows.push(m);
    }
    c.query_drop("ROLLBACK").await.map_err(failed)?;
    let _ = c.disconnect().await;
    Ok(Rows {
        columns,
        truncated: found.len() > max_rows,
        rows,
    })
}

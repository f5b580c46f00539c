//! Storage drivers for shipped result tables. Each driver creates the physical table (or index,
//! key space) from a result table's columns, writes batches of rows, and keeps the stream
//! position it has committed *in the storage itself*, in the same transaction as the rows where
//! the storage has transactions (PostgreSQL, MariaDB, Redis MULTI/EXEC). Elasticsearch has no
//! transactions, so its documents get ids derived from their stream position and a replay
//! overwrites them. Either way a shipper that crashes and replays its stream neither loses nor
//! duplicates a row.
mod es;
mod mysql;
mod pg;
pub mod query;
mod redis_kv;

pub use es::{BulkItem, BulkReport, EsClient, EsOptions};
use serde_json::{Map, Value};

/// Cluster types with a driver (`queue` is the result table's own stream: nothing to ship).
pub const SINK_TYPES: [&str; 5] = ["postgresql", "mysql", "tspider", "redis", "es"];
/// The column expiry looks at: milliseconds since the epoch, stamped by every clean.
pub const TIME_COLUMN: &str = "dtEventTimeStamp";
/// Where each storage keeps the positions its shippers have committed.
pub const OFFSETS_TABLE: &str = "bkdata_ship_offsets";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage settings: {0}")]
    Config(String),
    #[error("cannot reach the storage: {0}")]
    Connect(String),
    #[error("storage write failed: {0}")]
    Write(String),
    /// A query of the query API failed on the storage (bad SQL, timeout): its message.
    #[error("query failed: {0}")]
    Query(String),
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// An appending write goes ahead only from the position its writer last committed: when the
/// stored one differs, another writer (the job's new owner) has shipped meanwhile.
pub(crate) fn fence(shipper: &str, stored: u64, from_seq: u64) -> Result<()> {
    if stored == from_seq {
        return Ok(());
    }
    Err(StorageError::Write(format!(
        "the position of {shipper} is {stored}, not {from_seq}: another writer shipped this \
         partition meanwhile; this one stops and the job resumes from the storage's position"
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Long,
    Double,
    String,
    Text,
}

impl ColType {
    /// BKData field types; `timestamp` is a long of milliseconds. `bigint` and `bigdecimal`
    /// are stored as a long and a double (a bigint beyond 64 bits is stored as null).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "int" | "integer" => ColType::Int,
            "long" | "bigint" | "timestamp" => ColType::Long,
            "double" | "float" | "bigdecimal" => ColType::Double,
            "string" => ColType::String,
            "text" => ColType::Text,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    /// Column (or document field) name in the storage.
    pub name: String,
    /// The row field it comes from.
    pub source: String,
    pub ty: ColType,
}

#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Physical name: `schema.table` (PostgreSQL), `database.table` (MariaDB), a key prefix
    /// (Redis) or an index name, possibly with `{yyyyMMdd}` (Elasticsearch).
    pub physical: String,
    pub columns: Vec<Column>,
    /// Rows older than this are dropped by `expire` (or get this TTL in Redis).
    pub expire_days: Option<u32>,
    /// Redis: the fields whose values make a row's key (latest value wins); empty = one key
    /// per row, named by its stream position.
    pub key_fields: Vec<String>,
}

impl TableSpec {
    /// Rows whose time column is below this are expired (`None`: no expiry, or no time column).
    pub fn expiry_cutoff(&self, now_ms: i64) -> Option<i64> {
        let days = self.expire_days?;
        self.columns
            .iter()
            .any(|c| c.name == TIME_COLUMN)
            .then(|| now_ms - i64::from(days) * 86_400_000)
    }
}

/// A row from a result table's stream, with its position: partition `part`, message `seq`,
/// `idx` within it. `values` line up with the spec's columns (see [`RowParser`]).
#[derive(Debug, Clone)]
pub struct Row {
    pub part: u32,
    pub seq: u64,
    pub idx: u32,
    pub values: Vec<Value>,
}

/// Reads a stream row (a JSON object) straight into column order, skipping fields no column
/// takes: no map is built per row.
pub struct RowParser {
    /// (source field, column); a row has a dozen or so fields, where a linear scan of short
    /// keys beats hashing each one.
    index: Vec<(String, usize)>,
    width: usize,
}

impl RowParser {
    pub fn new(spec: &TableSpec) -> Self {
        RowParser {
            index: spec
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.source.clone(), i))
                .collect(),
            width: spec.columns.len(),
        }
    }

    pub fn parse(&self, bytes: &[u8]) -> std::result::Result<Vec<Value>, String> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let v = RowSeed(self)
            .deserialize(&mut de)
            .map_err(|e| format!("not a JSON object: {e}"))?;
        de.end().map_err(|e| format!("not a JSON object: {e}"))?;
        Ok(v)
    }
}

struct RowSeed<'a>(&'a RowParser);

impl<'de> serde::de::DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut m: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = vec![Value::Null; self.0.width];
        while let Some(slot) = m.next_key_seed(KeySeed(&self.0.index))? {
            match slot {
                Some(i) => out[i] = m.next_value()?,
                None => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A key looked up without being kept.
struct KeySeed<'a>(&'a [(String, usize)]);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
        Ok(self.0.iter().find(|(k, _)| k == s).map(|(_, i)| *i))
    }
}

impl Row {
    /// A document id from the position (`{seq}-{idx}`, `p{part}-{seq}-{idx}` past partition 0),
    /// so a replayed row overwrites itself.
    pub fn position_id(&self) -> String {
        if self.part == 0 {
            format!("{}-{}", self.seq, self.idx)
        } else {
            format!("p{}-{}-{}", self.part, self.seq, self.idx)
        }
    }
}

/// A row the storage refused for good (Elasticsearch mapping errors and the like).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub seq: u64,
    pub idx: u32,
    pub error: String,
    pub document: String,
}

#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: u64,
    pub dead: Vec<DeadLetter>,
}

pub enum Sink {
    Postgres(pg::PgSink),
    Mysql(mysql::MysqlSink),
    Redis(redis_kv::RedisSink),
    Es(es::EsSink),
}

impl Sink {
    /// Connect to a cluster of `cluster_type` with its connection settings. `shipper` names the
    /// writer whose position is kept (one per result table and storage).
    pub async fn connect(
        cluster_type: &str,
        conn: &Map<String, Value>,
        spec: TableSpec,
        shipper: &str,
    ) -> Result<Sink> {
        Ok(match cluster_type {
            "postgresql" => Sink::Postgres(pg::PgSink::connect(conn, spec, shipper).await?),
            "mysql" | "tspider" => {
                Sink::Mysql(mysql::MysqlSink::connect(conn, spec, shipper).await?)
            }
            "redis" => Sink::Redis(redis_kv::RedisSink::connect(conn, spec, shipper).await?),
            "es" => Sink::Es(es::EsSink::connect(
                conn,
                spec,
                shipper,
                EsOptions::default(),
            )?),
            t => {
                return Err(StorageError::Config(format!(
                    "no driver for {t:?}: use one of {}",
                    SINK_TYPES.join(", ")
                )))
            }
        })
    }

    /// Create the physical table (or index, key space) and the offsets table; add columns the
    /// spec has and the table lacks. Safe to call again.
    pub async fn ensure(&mut self) -> Result<()> {
        match self {
            Sink::Postgres(s) => s.ensure().await,
            Sink::Mysql(s) => s.ensure().await,
            Sink::Redis(s) => s.ensure().await,
            Sink::Es(s) => s.ensure().await,
        }
    }

    /// The last stream position committed by this shipper (0 = none).
    pub async fn committed(&mut self) -> Result<u64> {
        match self {
            Sink::Postgres(s) => s.committed().await,
            Sink::Mysql(s) => s.committed().await,
            Sink::Redis(s) => s.committed().await,
            Sink::Es(s) => s.committed().await,
        }
    }

    /// Write `rows` and commit `last_seq` as this shipper's position.
    /// Write `rows` and move the shipper's position from `from_seq` (what this writer
    /// committed last) to `last_seq`; refused when the position is no longer `from_seq`.
    pub async fn write(
        &mut self,
        rows: &[Row],
        from_seq: u64,
        last_seq: u64,
    ) -> Result<WriteReport> {
        match self {
            Sink::Postgres(s) => s.write(rows, from_seq, last_seq).await,
            Sink::Mysql(s) => s.write(rows, from_seq, last_seq).await,
            Sink::Redis(s) => s.write(rows, from_seq, last_seq).await,
            Sink::Es(s) => s.write(rows, from_seq, last_seq).await,
        }
    }

    /// Drop rows (or indices) older than the spec's expiry; answers how many went.
    pub async fn expire(&mut self, now_ms: i64) -> Result<u64> {
        match self {
            Sink::Postgres(s) => s.expire(now_ms).await,
            Sink::Mysql(s) => s.expire(now_ms).await,
            Sink::Redis(_) => Ok(0), // keys carry their TTL
            Sink::Es(s) => s.expire(now_ms).await,
        }
    }
}

/// The default physical name of a result table `{biz}_{name}` on a cluster, following
/// BKData's `mapleleaf_{biz}.{name}_{biz}` for relational storages (a cluster's `database`
/// setting replaces the MariaDB database), a key prefix for Redis, the lowercased id for ES.
pub fn default_physical_name(
    cluster_type: &str,
    conn: &Map<String, Value>,
    result_table_id: &str,
    bk_biz_id: i64,
) -> String {
    let name = result_table_id
        .strip_prefix(&format!("{bk_biz_id}_"))
        .unwrap_or(result_table_id);
    match cluster_type {
        "postgresql" => format!("mapleleaf_{bk_biz_id}.{name}_{bk_biz_id}"),
        "mysql" | "tspider" => {
            let db = conn
                .get("database")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("mapleleaf_{bk_biz_id}"));
            format!("{db}.{name}_{bk_biz_id}")
        }
        "redis" => format!(
            "{}{result_table_id}",
            conn.get("key_prefix").and_then(Value::as_str).unwrap_or("")
        ),
        _ => result_table_id.to_ascii_lowercase(),
    }
}

/// Check a physical name for a cluster type: SQL names are `a.b` of letters, digits and `_`;
/// index names are lowercase without `\ / * ? " < > | , #` or spaces (`{...}` templates allowed).
pub fn check_physical_name(cluster_type: &str, name: &str) -> std::result::Result<(), String> {
    let ident = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match cluster_type {
        "postgresql" | "mysql" | "tspider" => match name.split_once('.') {
            Some((a, b)) if ident(a) && ident(b) => Ok(()),
            _ => Err(format!(
                "physical_table_name {name:?} must be database.table, each of letters, digits and '_'"
            )),
        },
        "es" => {
            let bad = name.is_empty()
                || name.len() > 200
                || name.starts_with(['_', '-', '+'])
                || name
                    .chars()
                    .any(|c| c.is_ascii_uppercase() && !in_template(name, c))
                || name.contains([' ', '\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ':']);
            if bad {
                Err(format!("physical_table_name {name:?} is not a valid index name"))
            } else {
                Ok(())
            }
        }
        _ => {
            if name.is_empty() || name.len() > 200 || name.contains(char::is_whitespace) {
                Err(format!("physical_table_name {name:?} is not a valid key prefix"))
            } else {
                Ok(())
            }
        }
    }
}

/// Uppercase letters are allowed inside `{yyyyMMdd}`-style placeholders only.
fn in_template(name: &str, c: char) -> bool {
    let mut depth = false;
    for ch in name.chars() {
        match ch {
            '{' => depth = true,
            '}' => depth = false,
            x if x == c && !depth => return false,
            _ => {}
        }
    }
    true
}

/// A row value as the column type wants it; values that do not fit become NULL (the clean
/// already typed them, so this only guards against a schema changed under a running stream).
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Str(std::borrow::Cow<'a, str>),
}

pub(crate) fn cell(ty: ColType, v: Option<&Value>) -> Cell<'_> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Cell::Null;
    };
    match ty {
        ColType::Int | ColType::Long => {
            let n = v
                .as_i64()
                // A whole double only within i64 (`as` would saturate: a wrong value stored).
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            match n {
                Some(n) if ty == ColType::Long || i32::try_from(n).is_ok() => Cell::Int(n),
                _ => Cell::Null,
            }
        }
        ColType::Double => match v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(f) if f.is_finite() => Cell::Float(f),
            _ => Cell::Null,
        },
        ColType::String | ColType::Text => match v {
            Value::String(s) => Cell::Str(s.as_str().into()),
            other => Cell::Str(other.to_string().into()),
        },
    }
}

pub(crate) fn col_index(spec: &TableSpec, name: &str) -> Option<usize> {
    spec.columns
        .iter()
        .position(|c| c.source == name || c.name == name)
}

pub(crate) fn conn_str<'a>(conn: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    conn.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn conn_port(conn: &Map<String, Value>, default: u16) -> u16 {
    conn.get("port")
        .and_then(|p| {
            p.as_u64()
                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_names_follow_bkdata() {
        let none = Map::new();
        assert_eq!(
            default_physical_name("postgresql", &none, "2_app_log", 2),
            "mapleleaf_2.app_log_2"
        );
        assert_eq!(
            default_physical_name("mysql", &none, "2_app_log", 2),
            "mapleleaf_2.app_log_2"
        );
        let db = json!({"database": "logs", "key_prefix": "bk:"});
        let db = db.as_object().unwrap();
        assert_eq!(
            default_physical_name("tspider", db, "2_app_log", 2),
            "logs.app_log_2"
        );
        assert_eq!(
            default_physical_name("redis", db, "2_app_log", 2),
            "bk:2_app_log"
        );
        assert_eq!(default_physical_name("es", db, "2_App", 2), "2_app");
    }

    #[test]
    fn physical_names_are_checked() {
        assert!(check_physical_name("postgresql", "s.t_1").is_ok());
        assert!(check_physical_name("postgresql", "t").is_err());
        assert!(check_physical_name("mysql", "a.b;drop").is_err());
        assert!(check_physical_name("es", "write_{yyyyMMdd}_2_app").is_ok());
        assert!(check_physical_name("es", "Upper").is_err());
        assert!(check_physical_name("es", "a/b").is_err());
    }

    #[test]
    fn rows_parse_into_column_order() {
        let col = |n: &str, s: &str| Column {
            name: n.into(),
            source: s.into(),
            ty: ColType::String,
        };
        let spec = TableSpec {
            physical: "a.b".into(),
            columns: vec![col("x", "b"), col("y", "a\"q"), col("z", "missing")],
            expire_days: None,
            key_fields: vec![],
        };
        let p = RowParser::new(&spec);
        let v = p
            .parse(br#"{"a\"q": 1, "skip": {"deep": [1, 2]}, "b": "two"}"#)
            .unwrap();
        assert_eq!(v, vec![json!("two"), json!(1), Value::Null]);
        assert!(p.parse(b"[1, 2]").is_err());
        assert!(p.parse(br#"{"b": 1} trailing"#).is_err());
    }

    #[test]
    fn cells_follow_the_column_type() {
        assert!(matches!(
            cell(ColType::Int, Some(&json!("42"))),
            Cell::Int(42)
        ));
        assert!(matches!(
            cell(ColType::Int, Some(&json!(1u64 << 40))),
            Cell::Null
        ));
        assert!(matches!(
            cell(ColType::Long, Some(&json!(1u64 << 40))),
            Cell::Int(_)
        ));
        assert!(matches!(
            cell(ColType::Double, Some(&json!("x"))),
            Cell::Null
        ));
        assert!(matches!(
            cell(ColType::Text, Some(&json!({"a": 1}))),
            Cell::Str(_)
        ));
        assert!(matches!(cell(ColType::String, None), Cell::Null));
        // A bigint beyond 64 bits arrives as a double: null, not a saturated 2^63-1.
        let big: Value = serde_json::from_str("12211111111111111122323241").unwrap();
        assert!(matches!(cell(ColType::Long, Some(&big)), Cell::Null));
        assert!(matches!(
            cell(ColType::Long, Some(&json!(-4.0e15))),
            Cell::Int(-4_000_000_000_000_000)
        ));
    }
}

//! What `ddl_generation` reads of a business table, from Postgres' catalog: columns, types,
//! nullability, defaults, keys, foreign keys, comments, the row count, sample values, the
//! values of enum-like columns and the range of numeric and date columns.
use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a column is used by the question generator.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Text,
    Date,
    Timestamp,
    Bool,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub kind: Kind,
    pub nullable: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
    pub samples: Vec<String>,
    /// Set when the column holds few distinct values (at most `ENUM_MAX`), each repeated.
    pub enum_values: Option<Vec<String>>,
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub comment: Option<String>,
    pub row_count: i64,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl TableInfo {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    /// `"schema"."table"`, for SQL.
    pub fn sql_name(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

pub const ENUM_MAX: usize = 10;
const SAMPLES: usize = 5;
/// Enum detection and ranges read at most this many rows of a table.
const SCAN_ROWS: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot connect to business database {db}: {message}")]
    Connect { db: String, message: String },
    #[error("table {0} does not exist in the business database")]
    NoTable(String),
    #[error("invalid table name {0:?}: expected schema.table or table")]
    BadName(String),
    #[error("reading {table}: {message}")]
    Query { table: String, message: String },
}

/// A quoted SQL identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A quoted SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Connect to a business database (5 s to connect unless the URL says otherwise); `shown`
/// is the redacted URL used in errors.
pub fn connect(url: &str, shown: &str) -> Result<Client, CatalogError> {
    let mut cfg: postgres::Config =
        url.parse()
            .map_err(|e: postgres::Error| CatalogError::Connect {
                db: shown.to_string(),
                message: e.to_string(),
            })?;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    cfg.connect(NoTls).map_err(|e| {
        // postgres' own message is terse ("error connecting to server"): add the cause.
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(&format!(": {s}"));
            src = s.source();
        }
        CatalogError::Connect {
            db: shown.to_string(),
            message,
        }
    })
}

/// `schema.table` or `table` (schema `public`).
pub fn split_name(line: &str) -> Result<(String, String), CatalogError> {
    let parts: Vec<&str> = line.split('.').map(str::trim).collect();
    let ok = |s: &str| !s.is_empty() && !s.chars().any(char::is_whitespace);
    match parts.as_slice() {
        [t] if ok(t) => Ok(("public".into(), t.to_string())),
        [s, t] if ok(s) && ok(t) => Ok((s.to_string(), t.to_string())),
        _ => Err(CatalogError::BadName(line.to_string())),
    }
}

/// Read one table.
pub fn read_table(c: &mut Client, schema: &str, name: &str) -> Result<TableInfo, CatalogError> {
    let qualified = format!("{schema}.{name}");
    let q = |e: postgres::Error| CatalogError::Query {
        table: qualified.clone(),
        message: e
            .as_db_error()
            .map_or(e.to_string(), |d| d.message().to_string()),
    };
    let row = c
        .query_opt(
            "SELECT c.oid::int8, obj_description(c.oid, 'pg_class'), c.reltuples::int8
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm')",
            &[&schema, &name],
        )
        .map_err(q)?
        .ok_or_else(|| CatalogError::NoTable(qualified.clone()))?;
    let oid: i64 = row.get(0);
    let comment: Option<String> = row.get(1);
    let estimate: i64 = row.get(2);
    let oid = oid as u32;
    let mut columns: Vec<ColumnInfo> = c
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum),
                    t.typcategory::text
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(q)?
        .iter()
        .map(|r| {
            let data_type: String = r.get(1);
            let category: String = r.get(5);
            ColumnInfo {
                name: r.get(0),
                kind: kind_of(&category, &data_type),
                data_type,
                nullable: r.get(2),
                default: r.get(3),
                comment: r.get(4),
                samples: Vec::new(),
                enum_values: None,
                min: None,
                max: None,
            }
        })
        .collect();
    let mut primary_key = Vec::new();
    let mut foreign_keys = Vec::new();
    for r in c
        .query(
            "SELECT c.contype::text,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
               rn.nspname::text, rc.relname::text,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
             FROM pg_constraint c
             LEFT JOIN pg_class rc ON rc.oid = c.confrelid
             LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
             WHERE c.conrelid = $1 AND c.contype IN ('p', 'f') ORDER BY c.conname",
            &[&oid],
        )
        .map_err(q)?
    {
        let kind: String = r.get(0);
        let cols: Vec<String> = r.get(1);
        if kind == "p" {
            primary_key = cols;
        } else {
            foreign_keys.push(ForeignKey {
                columns: cols,
                ref_schema: r.get::<_, Option<String>>(2).unwrap_or_default(),
                ref_table: r.get::<_, Option<String>>(3).unwrap_or_default(),
                ref_columns: r.get(4),
            });
        }
    }
    let table = format!("{}.{}", ident(schema), ident(name));
    // Exact counts for tables of ordinary size; the planner's estimate beyond.
    let row_count = if estimate < 1_000_000 {
        c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(q)?
            .get(0)
    } else {
        estimate
    };
    if !columns.is_empty() {
        let list = columns
            .iter()
            .map(|col| format!("{}::text", ident(&col.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = c
            .query(&format!("SELECT {list} FROM {table} LIMIT {SAMPLES}"), &[])
            .map_err(q)?;
        for (i, col) in columns.iter_mut().enumerate() {
            let mut seen: Vec<String> = Vec::new();
            for r in &rows {
                if let Some(v) = r.get::<_, Option<String>>(i) {
                    if !seen.contains(&v) {
                        seen.push(v);
                    }
                }
            }
            col.samples = seen;
        }
        // Ranges of numeric and date columns, over the scanned rows.
        let ranged: Vec<usize> = (0..columns.len())
            .filter(|i| {
                matches!(
                    columns[*i].kind,
                    Kind::Numeric | Kind::Date | Kind::Timestamp
                )
            })
            .collect();
        if !ranged.is_empty() {
            let list = ranged
                .iter()
                .map(|i| {
                    let n = ident(&columns[*i].name);
                    format!("min({n})::text, max({n})::text")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let r = c
                .query_one(
                    &format!("SELECT {list} FROM (SELECT * FROM {table} LIMIT {SCAN_ROWS}) s"),
                    &[],
                )
                .map_err(q)?;
            for (k, i) in ranged.iter().enumerate() {
                columns[*i].min = r.get(2 * k);
                columns[*i].max = r.get(2 * k + 1);
            }
        }
        let keys: Vec<&String> = primary_key
            .iter()
            .chain(foreign_keys.iter().flat_map(|f| f.columns.iter()))
            .collect();
        for col in columns.iter_mut() {
            if !matches!(col.kind, Kind::Text | Kind::Bool) || keys.contains(&&col.name) {
                continue;
            }
            let n = ident(&col.name);
            let rows = c
                .query(
                    &format!(
                        "SELECT v, count(*) FROM (SELECT {n}::text AS v FROM {table} LIMIT {SCAN_ROWS}) s \
                         WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT {}",
                        ENUM_MAX + 1
                    ),
                    &[],
                )
                .map_err(q)?;
            let values: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            let counted: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
            if !values.is_empty() && values.len() <= ENUM_MAX && counted >= 2 * values.len() as i64
            {
                col.enum_values = Some(values);
            }
        }
    }
    Ok(TableInfo {
        schema: schema.to_string(),
        name: name.to_string(),
        comment,
        row_count,
        columns,
        primary_key,
        foreign_keys,
    })
}

fn kind_of(category: &str, data_type: &str) -> Kind {
    match category {
        "N" => Kind::Numeric,
        "S" => Kind::Text,
        "B" => Kind::Bool,
        "D" if data_type == "date" => Kind::Date,
        "D" if data_type.starts_with("timestamp") => Kind::Timestamp,
        _ => Kind::Other,
    }
}

/// The table list file: one `schema.table` a line; `#` comments and blank lines ignored;
/// duplicates kept once.
pub fn parse_table_list(text: &str) -> Result<Vec<(String, String)>, CatalogError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let t = split_name(line)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// A table's name for questions: the first clause of its comment without a category prefix
/// (`业务支撑_公司信息表，…` reads `公司信息表`), else its name.
pub fn label_t(t: &TableInfo) -> String {
    let first = t
        .comment
        .as_deref()
        .map(|c| {
            c.split(['，', ',', '。', '(', '（'])
                .next()
                .unwrap_or(c)
                .trim()
        })
        .unwrap_or("");
    let short = match first.rsplit_once('_') {
        Some((_, rest)) if crate::is_chinese(rest) => rest,
        _ => first,
    };
    if short.is_empty() {
        t.name.clone()
    } else {
        short.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_skip_comments_and_blanks() {
        let l = parse_table_list(
            "# tables\n\nbss_company\n public.bss_service_area # areas\nbss_company\n",
        )
        .unwrap();
        assert_eq!(
            l,
            vec![
                ("public".into(), "bss_company".into()),
                ("public".into(), "bss_service_area".into())
            ]
        );
        assert!(parse_table_list("a.b.c").is_err());
        assert!(parse_table_list("has space").is_err());
    }
}

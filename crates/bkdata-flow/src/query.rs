//! The query API (`/v3/dataquery/query/`): read-only SQL over result tables, run on the
//! storage that holds them. The SQL is parsed (MySQL dialect, as BKData's), must be one
//! SELECT that reads only result tables the caller may read, with functions from an allowed
//! list (no table functions, `INTO`, locking clauses); each `FROM {result_table_id}` becomes
//! the storage's physical table, identifiers are quoted for the storage, and it runs in a
//! read-only transaction with a row limit and a timeout.
use bkdata_api::dataflow::QueryResult;
use bkdata_databus::auth::Access;
use bkdata_databus::DatabusError;
use bkdata_models::auth::Caller;
use bkdata_models::databus::{DataStorage, StorageCluster};
use bkdata_models::schema::{data_storages as ds, storage_clusters as sc};
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::time::Duration;

/// Functions a query may call (lower case). Anything else — in particular a storage's
/// administration functions — is refused.
const FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "median",
    "percentile_cont",
    "percentile_disc",
    "string_agg",
    "group_concat",
    "array_agg",
    "bool_and",
    "bool_or",
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "sqrt",
    "power",
    "pow",
    "mod",
    "ln",
    "log",
    "log10",
    "exp",
    "sign",
    "greatest",
    "least",
    "coalesce",
    "nullif",
    "ifnull",
    "if",
    "lower",
    "upper",
    "length",
    "char_length",
    "substr",
    "substring",
    "concat",
    "concat_ws",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "left",
    "right",
    "lpad",
    "rpad",
    "split_part",
    "strpos",
    "locate",
    "instr",
    "date",
    "date_trunc",
    "date_part",
    "date_format",
    "to_char",
    "to_timestamp",
    "from_unixtime",
    "unix_timestamp",
    "now",
    "current_date",
    "current_timestamp",
    "datediff",
    "timestampdiff",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "week",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
];

/// A checked query: the result tables it reads, and its syntax tree.
#[derive(Debug)]
pub struct Checked {
    pub tables: Vec<String>,
    statement: Statement,
}

fn refuse(message: impl Into<String>) -> DatabusError {
    DatabusError::field("sql", message)
}

struct Checker {
    ctes: BTreeSet<String>,
    tables: Vec<String>,
}

impl Visitor for Checker {
    type Break = DatabusError;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<DatabusError> {
        if !q.locks.is_empty() || q.for_clause.is_some() {
            return ControlFlow::Break(refuse(
                "locking clauses (FOR UPDATE, FOR ...) are not allowed",
            ));
        }
        if let Some(w) = &q.with {
            for cte in &w.cte_tables {
                self.ctes.insert(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<DatabusError> {
        if s.into.is_some() {
            return ControlFlow::Break(refuse("SELECT ... INTO is not allowed: queries only read"));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<DatabusError> {
        match t {
            TableFactor::Table {
                name, args: None, ..
            } => {
                let parts: Vec<&str> = name
                    .0
                    .iter()
                    .filter_map(|p| match p {
                        ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
                        _ => None,
                    })
                    .collect();
                match parts.as_slice() {
                    [one] if name.0.len() == 1 => {
                        if !self.ctes.contains(*one) && !self.tables.iter().any(|t| t == one) {
                            self.tables.push(one.to_string());
                        }
                        ControlFlow::Continue(())
                    }
                    _ => ControlFlow::Break(refuse(format!(
                        "FROM names result tables (e.g. 591_system_proc), not {name}"
                    ))),
                }
            }
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {
                ControlFlow::Continue(())
            }
            other => ControlFlow::Break(refuse(format!(
                "only result tables and subqueries may be read, not {other}"
            ))),
        }
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<DatabusError> {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            if f.name.0.len() != 1 || !FUNCTIONS.contains(&name.as_str()) {
                return ControlFlow::Break(refuse(format!(
                    "function {} is not allowed in queries",
                    f.name
                )));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Parse and check a query; answers the result tables it reads.
pub fn check(sql: &str) -> Result<Checked, DatabusError> {
    let sql = sql.trim().trim_end_matches(';');
    if sql.is_empty() {
        return Err(refuse("sql is required"));
    }
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| refuse(format!("sql does not parse: {e}")))?;
    if statements.len() != 1 {
        return Err(refuse("one statement, please: a single SELECT"));
    }
    let statement = statements.remove(0);
    if !matches!(statement, Statement::Query(_)) {
        return Err(refuse("only SELECT queries are allowed"));
    }
    let mut checker = Checker {
        ctes: BTreeSet::new(),
        tables: Vec::new(),
    };
    if let ControlFlow::Break(e) = Visit::visit(&statement, &mut checker) {
        return Err(e);
    }
    if checker.tables.is_empty() {
        return Err(refuse(
            "the query reads no result table (FROM {result_table_id})",
        ));
    }
    Ok(Checked {
        tables: checker.tables,
        statement,
    })
}

/// Rewrites a checked query for a storage: tables → physical names, identifiers quoted.
struct Rewriter<'a> {
    physical: &'a HashMap<String, String>,
    quote: char,
}

impl Rewriter<'_> {
    fn quoted(&self, i: &mut Ident) {
        if i.quote_style.is_none() || i.quote_style == Some('`') || i.quote_style == Some('"') {
            i.quote_style = Some(self.quote);
        }
    }

    /// Output names keep their case on PostgreSQL too.
    fn aliases(&self, body: &mut SetExpr) {
        match body {
            SetExpr::Select(s) => {
                for item in &mut s.projection {
                    if let SelectItem::ExprWithAlias { alias, .. } = item {
                        self.quoted(alias);
                    }
                }
            }
            SetExpr::Query(q) => self.aliases(&mut q.body),
            SetExpr::SetOperation { left, right, .. } => {
                self.aliases(left);
                self.aliases(right);
            }
            _ => {}
        }
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.aliases(&mut q.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
        let key = name.to_string().trim_matches(['`', '"']).to_string();
        if let Some(p) = self.physical.get(&key) {
            let parts: Vec<Ident> = p
                .split('.')
                .map(|x| Ident::with_quote(self.quote, x))
                .collect();
            *name = ObjectName::from(parts);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) => self.quoted(i),
            Expr::CompoundIdentifier(parts) => {
                // `591_x.col`: the table is now named by its physical name's last part.
                if parts.len() >= 2 {
                    if let Some(p) = self.physical.get(&parts[0].value) {
                        parts[0].value = p.rsplit('.').next().unwrap_or(p).to_string();
                    }
                }
                parts.iter_mut().for_each(|i| self.quoted(i))
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The query as the storage of `cluster_type` runs it, its tables replaced by `physical`.
pub fn rewrite(c: &Checked, physical: &HashMap<String, String>, cluster_type: &str) -> String {
    let mut statement = c.statement.clone();
    let quote = if cluster_type == "postgresql" {
        '"'
    } else {
        '`'
    };
    let _ = VisitMut::visit(&mut statement, &mut Rewriter { physical, quote });
    statement.to_string()
}

/// Limits of the query API (the server's `BKDATA_QUERY_MAX_ROWS`, `BKDATA_QUERY_TIMEOUT_MS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_rows: usize,
    pub timeout: Duration,
}

/// Where a checked query runs: the cluster and the SQL written for it.
pub struct Plan {
    pub cluster: StorageCluster,
    pub sql: String,
    pub storage_type: String,
}

/// Resolve a checked query: every table readable, all on one cluster of a queryable type
/// (`prefer_storage` first when given), the SQL written for it.
pub fn plan(
    conn: &mut PgConnection,
    caller: &Caller,
    c: &Checked,
    prefer_storage: Option<&str>,
) -> Result<Plan, DatabusError> {
    let queryable = bkdata_storage::query::QUERY_TYPES;
    if let Some(p) = prefer_storage {
        if !queryable.contains(&p) {
            return Err(DatabusError::field(
                "prefer_storage",
                format!(
                    "prefer_storage {p:?} cannot be queried: use one of {}",
                    queryable.join(", ")
                ),
            ));
        }
    }
    let mut physical = HashMap::new();
    let mut chosen: Option<(String, String)> = None;
    for id in &c.tables {
        if bkdata_databus::auth::result_table(conn, caller, id, Access::Query)?.is_none() {
            return Err(DatabusError::NotFound(format!(
                "result table {id} does not exist or you may not read it"
            )));
        }
        let mut bindings: Vec<DataStorage> = ds::table
            .filter(ds::result_table_id.eq(id))
            .filter(ds::storage_type.eq_any(queryable))
            .select(DataStorage::as_select())
            .load(conn)?;
        // Without a preference: PostgreSQL, then MariaDB.
        bindings.sort_by_key(|b| queryable.iter().position(|q| *q == b.storage_type));
        let pick = bindings
            .iter()
            .filter(|b| prefer_storage.is_none_or(|p| p == b.storage_type))
            .find(|b| {
                chosen
                    .as_ref()
                    .is_none_or(|(cluster, _)| *cluster == b.cluster_name)
            })
            .ok_or_else(|| {
                DatabusError::field(
                    "sql",
                    match (bindings.is_empty(), prefer_storage) {
                        (true, _) => format!(
                            "result table {id} has no storage the query API reads ({})",
                            queryable.join(", ")
                        ),
                        (false, Some(p)) => format!("result table {id} has no {p} storage"),
                        (false, None) => format!(
                            "the tables of one query must share a storage cluster; {id} is not on {}",
                            chosen.as_ref().map(|c| c.0.as_str()).unwrap_or_default()
                        ),
                    },
                )
            })?;
        physical.insert(id.clone(), pick.physical_table_name.clone());
        chosen = Some((pick.cluster_name.clone(), pick.storage_type.clone()));
    }
    let (cluster_name, storage_type) = chosen.expect("a checked query reads a table");
    let cluster: StorageCluster = sc::table
        .find(&cluster_name)
        .select(StorageCluster::as_select())
        .first(conn)?;
    let sql = rewrite(c, &physical, &cluster.cluster_type);
    Ok(Plan {
        cluster,
        sql,
        storage_type,
    })
}

/// Run a planned query; answers BKData's `{list, select_fields_order, total_records,
/// timetaken, …}`.
pub async fn run(plan: &Plan, c: &Checked, limits: Limits) -> Result<QueryResult, DatabusError> {
    let started = std::time::Instant::now();
    let conn = plan
        .cluster
        .connection
        .as_object()
        .cloned()
        .unwrap_or_default();
    let rows = bkdata_storage::query::query(
        &plan.cluster.cluster_type,
        &conn,
        &plan.sql,
        limits.max_rows,
        limits.timeout,
    )
    .await
    .map_err(|e| bkdata_databus::error::of_storage(e, &plan.cluster.cluster_name, "sql"))?;
    Ok(QueryResult {
        total_records: rows.rows.len() as u64,
        list: rows.rows,
        select_fields_order: rows.columns,
        truncated: rows.truncated,
        max_rows: Some(limits.max_rows as u64),
        timetaken: started.elapsed().as_secs_f64(),
        result_table_ids: c.tables.clone(),
        device: plan.storage_type.clone(),
        cluster: plan.cluster.cluster_name.clone(),
        sql: plan.sql.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        check(sql).unwrap_err().to_string()
    }

    #[test]
    fn only_reading_queries_pass() {
        let c = check("SELECT ip, max(mem) AS m FROM 591_x WHERE pid > 1 GROUP BY ip").unwrap();
        assert_eq!(c.tables, ["591_x"]);
        let c =
            check("WITH t AS (SELECT * FROM `591_a`) SELECT * FROM t JOIN 591_b ON t.x = 591_b.x")
                .unwrap();
        assert_eq!(c.tables, ["591_a", "591_b"]);
        for (sql, why) in [
            ("DELETE FROM 591_x", "only SELECT"),
            ("SELECT 1; DROP TABLE 591_x", "one statement"),
            ("SELECT * FROM 591_x FOR UPDATE", "locking"),
            ("SELECT pg_sleep(10) FROM 591_x", "pg_sleep is not allowed"),
            ("SELECT * FROM pg_catalog.pg_user", "not pg_catalog.pg_user"),
            ("SELECT * FROM generate_series(1, 10)", "only result tables"),
            ("SELECT 1", "reads no result table"),
            ("SELEC * FROM x", "does not parse"),
            ("SELECT * INTO 591_y FROM 591_x", "INTO"),
        ] {
            let e = refused(sql);
            assert!(e.contains(why), "{sql}: {e}");
        }
    }

    #[test]
    fn qualified_columns_follow_their_table() {
        let c = check("SELECT 591_x.ip FROM 591_x").unwrap();
        let physical = HashMap::from([("591_x".to_string(), "mapleleaf_591.x_591".to_string())]);
        assert_eq!(
            rewrite(&c, &physical, "postgresql"),
            r#"SELECT "x_591"."ip" FROM "mapleleaf_591"."x_591""#
        );
    }

    #[test]
    fn tables_become_physical_and_names_keep_their_case() {
        let c = check("SELECT max(memRes) AS memMax, `ip` FROM 591_x GROUP BY ip ORDER BY memMax DESC LIMIT 3").unwrap();
        let physical = HashMap::from([("591_x".to_string(), "mapleleaf_591.x_591".to_string())]);
        assert_eq!(
            rewrite(&c, &physical, "postgresql"),
            r#"SELECT max("memRes") AS "memMax", "ip" FROM "mapleleaf_591"."x_591" GROUP BY "ip" ORDER BY "memMax" DESC LIMIT 3"#
        );
        assert_eq!(
            rewrite(&c, &physical, "mysql"),
            "SELECT max(`memRes`) AS `memMax`, `ip` FROM `mapleleaf_591`.`x_591` GROUP BY `ip` ORDER BY `memMax` DESC LIMIT 3"
        );
    }
}

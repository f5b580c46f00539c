//! A realtime node's SQL on DataFusion: checked and typed once against its inputs' schemas,
//! then run over each window's rows. The MySQL dialect reads BKData's table names, which start
//! with the biz id (`591_system_proc`), and backquoted names; identifiers keep their case
//! (`dtEventTime`, `cpu_usage_pct`). Only a query is allowed: no DDL, DML or statements.
use crate::exchange::{route_of, Route};
use crate::FlowError;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use std::sync::Arc;

pub struct FlowSql {
    sql: String,
    ctx: SessionContext,
    inputs: Vec<(String, SchemaRef)>,
    output: SchemaRef,
    route: Route,
}

/// Output names the runtime writes itself.
const STAMPED: [&str; 3] = ["dtEventTime", "dtEventTimeStamp", "localTime"];

fn options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl FlowSql {
    /// Check `sql` against its input tables (result table id → schema) and work out the
    /// schema of its output.
    pub async fn compile(sql: &str, inputs: Vec<(String, SchemaRef)>) -> Result<Self, FlowError> {
        let sql = sql.trim().trim_end_matches(';').to_string();
        if sql.is_empty() {
            return Err(FlowError::Sql("the sql is empty".into()));
        }
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .set_str("datafusion.sql_parser.dialect", "MySQL")
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        let ctx = SessionContext::new_with_config(config);
        let mut flow = FlowSql {
            sql,
            ctx,
            inputs,
            output: Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            route: Route::One,
        };
        let empty: Vec<(String, Vec<RecordBatch>)> = flow
            .inputs
            .iter()
            .map(|(n, _)| (n.clone(), Vec::new()))
            .collect();
        flow.register(empty)?;
        let df = flow.ctx.sql_with_options(&flow.sql, options()).await?;
        flow.route = route_of(df.logical_plan());
        let schema = df.schema().as_arrow().clone();
        let mut seen = std::collections::HashSet::new();
        for f in schema.fields() {
            let name = f.name();
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(FlowError::Sql(format!(
                    "output column {name:?} needs a name: write `… AS name` (letters, digits, _)"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(FlowError::Sql(format!(
                    "output column {name:?} appears twice"
                )));
            }
        }
        flow.output = Arc::new(schema);
        Ok(flow)
    }

    /// The output columns, without the time columns the runtime stamps.
    pub fn output_fields(&self) -> Vec<(String, &'static str)> {
        self.output
            .fields()
            .iter()
            .filter(|f| !STAMPED.contains(&f.name().as_str()))
            .map(|f| (f.name().clone(), crate::rows::bkdata_type(f.data_type())))
            .collect()
    }

    /// The schema an input's rows are read with.
    pub fn input_schema(&self, name: &str) -> Option<SchemaRef> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// How the rows may be split over a node's parallel tasks.
    pub fn route(&self) -> &Route {
        &self.route
    }

    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    fn register(&self, batches: Vec<(String, Vec<RecordBatch>)>) -> Result<(), FlowError> {
        for (name, data) in batches {
            let schema = self
                .inputs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| FlowError::Sql(format!("{name} is not an input of this node")))?;
            let table = MemTable::try_new(schema, vec![data])?;
            let r = TableReference::bare(name);
            self.ctx.deregister_table(r.clone())?;
            self.ctx.register_table(r, Arc::new(table))?;
        }
        Ok(())
    }

    /// Run the SQL over the given rows of each input.
    pub async fn run(
        &self,
        batches: Vec<(String, Vec<RecordBatch>)>,
    ) -> Result<Vec<RecordBatch>, FlowError> {
        self.register(batches)?;
        let df = self.ctx.sql_with_options(&self.sql, options()).await?;
        Ok(df.collect().await?)
    }
}

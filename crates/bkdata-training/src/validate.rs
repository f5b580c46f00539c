//! `sql_validation`: each pair's SQL planned with `EXPLAIN` in a read-only transaction with a
//! statement timeout (`BKDATA_SQL_VALIDATION_TIMEOUT_MS`, default 5000) on the business
//! database. Writes `sql_validation_{ts}_summary.log` and `sql_validation_{ts}_report.json`;
//! `enable_llm_repair` asks the language model to fix invalid SQL (re-checked);
//! `modify_original_file` rewrites the pair file without the invalid pairs, keeping a backup.
use crate::catalog;
use crate::ddl::{load_catalog, render_ddl, Params};
use crate::llm::Llm;
use crate::qa::{latest_pair_file, timestamp, Pair};
use crate::registry::{redacted, Registry};
use bkdata_pipeline::{Step, StepContext, StepError};
use postgres::Client;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub index: usize,
    pub question: String,
    pub sql: String,
    pub valid: bool,
    pub error: Option<String>,
    pub repaired: bool,
    pub repaired_sql: Option<String>,
}

/// Plan one statement read-only; the database's error when it does not plan.
pub fn explain(c: &mut Client, sql: &str, timeout_ms: u64) -> Result<(), String> {
    let sql = sql.trim().trim_end_matches(';').trim();
    if sql.is_empty() {
        return Err("empty SQL".into());
    }
    let mut tx = c
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| e.to_string())?;
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}"))
        .map_err(|e| e.to_string())?;
    // The extended protocol takes one statement: `a; b` is refused, not run.
    let r = tx.query(&format!("EXPLAIN {sql}"), &[]);
    let _ = tx.rollback();
    r.map(|_| ()).map_err(|e| {
        e.as_db_error()
            .map_or(e.to_string(), |d| d.message().to_string())
    })
}

pub struct SqlValidation {
    /// How long one statement may take to plan (`TrainingConfig::validation_timeout_ms`).
    pub timeout_ms: u64,
}

impl Step for SqlValidation {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError> {
        let p = Params::of(ctx);
        let catalog = load_catalog(ctx)?;
        let file = latest_pair_file(&ctx.task_dir).ok_or_else(|| {
            StepError("no qs_*_pair.json in the task folder: run qa_generation first".into())
        })?;
        let pairs: Vec<Pair> = serde_json::from_slice(&std::fs::read(ctx.task_dir.join(&file))?)
            .map_err(|e| StepError(format!("{file} is not a list of {{question, sql}}: {e}")))?;
        let registry = Registry::from_env().map_err(|e| StepError(e.to_string()))?;
        let (_, db) = registry
            .resolve(Some(&catalog.db_name))
            .map_err(|e| StepError(e.to_string()))?;
        let shown = format!("{} ({})", catalog.db_name, redacted(&db.url));
        let mut client = catalog::connect(&db.url, &shown).map_err(|e| StepError(e.to_string()))?;
        let timeout_ms = self.timeout_ms;
        let llm = if p.enable_llm_repair {
            let l = Llm::from_env();
            if l.is_none() {
                ctx.warn("enable_llm_repair: no language model configured (BKDATA_LLM_URL); invalid SQL is reported, not repaired");
            }
            l
        } else {
            None
        };
        let zh = p.chinese();
        let ddl: String = catalog.tables.iter().map(|t| render_ddl(t, zh)).collect();
        let mut checked = Vec::with_capacity(pairs.len());
        for (i, pair) in pairs.iter().enumerate() {
            if ctx.is_cancelled() {
                return Err(StepError("cancelled".into()));
            }
            let mut c = Checked {
                index: i,
                question: pair.question.clone(),
                sql: pair.sql.clone(),
                valid: true,
                error: None,
                repaired: false,
                repaired_sql: None,
            };
            if let Err(e) = explain(&mut client, &pair.sql, timeout_ms) {
                c.valid = false;
                c.error = Some(e.clone());
                if let Some(llm) = &llm {
                    let ask = format!(
                        "PostgreSQL schema:\n{ddl}\nQuestion: {}\nThis SQL fails with \"{e}\":\n{}\nAnswer with the corrected SQL only.",
                        pair.question, pair.sql
                    );
                    match llm.chat("You fix PostgreSQL queries.", &ask) {
                        Ok(text) => {
                            let fixed = text
                                .trim()
                                .trim_start_matches("```sql")
                                .trim_start_matches("```")
                                .trim_end_matches("```")
                                .trim()
                                .to_string();
                            if explain(&mut client, &fixed, timeout_ms).is_ok() {
                                c.repaired = true;
                                c.repaired_sql = Some(fixed);
                            }
                        }
                        Err(err) => ctx.warn(&format!("repair of pair {i} failed: {err}")),
                    }
                }
            }
            checked.push(c);
        }
        let valid = checked.iter().filter(|c| c.valid).count();
        let repaired = checked.iter().filter(|c| c.repaired).count();
        let invalid = checked.len() - valid - repaired;
        let ts = timestamp();
        let report = json!({
            "pair_file": file, "db_name": catalog.db_name, "total": checked.len(),
            "valid": valid, "repaired": repaired, "invalid": invalid, "results": checked,
        });
        let report_name = format!("sql_validation_{ts}_report.json");
        ctx.write_output(
            &report_name,
            &serde_json::to_vec_pretty(&report).map_err(|e| StepError(e.to_string()))?,
        )?;
        let mut summary = format!(
            "SQL validation of {file} on {shown}\ntotal: {}\nvalid: {valid}\nrepaired: {repaired}\ninvalid: {invalid}\n",
            checked.len()
        );
        for c in checked.iter().filter(|c| !c.valid) {
            summary.push_str(&format!(
                "\n[{}] {}\n  sql: {}\n  error: {}\n  {}\n",
                c.index,
                c.question,
                c.sql,
                c.error.as_deref().unwrap_or(""),
                if c.repaired {
                    "repaired"
                } else {
                    "not repaired"
                }
            ));
        }
        let summary_name = format!("sql_validation_{ts}_summary.log");
        ctx.write_output(&summary_name, summary.as_bytes())?;
        ctx.info(&format!(
            "{} pairs: {valid} valid, {repaired} repaired, {invalid} invalid",
            checked.len()
        ));
        let mut modified = false;
        if p.modify_original_file && (invalid > 0 || repaired > 0) {
            let original = std::fs::read(ctx.task_dir.join(&file))?;
            ctx.write_output(&format!("{file}.backup"), &original)?;
            let kept: Vec<Pair> = checked
                .iter()
                .filter(|c| c.valid || c.repaired)
                .map(|c| Pair {
                    question: c.question.clone(),
                    sql: c.repaired_sql.clone().unwrap_or_else(|| c.sql.clone()),
                })
                .collect();
            ctx.write_output(
                &file,
                &serde_json::to_vec_pretty(&kept).map_err(|e| StepError(e.to_string()))?,
            )?;
            ctx.info(&format!(
                "{file} rewritten without {invalid} invalid pairs (backup {file}.backup)"
            ));
            modified = true;
        }
        Ok(json!({
            "pair_file": file, "report_file": report_name, "summary_file": summary_name,
            "total": checked.len(), "valid": valid, "repaired": repaired, "invalid": invalid,
            "original_file_modified": modified,
        }))
    }
}

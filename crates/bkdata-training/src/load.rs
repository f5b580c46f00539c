//! `training_load`: the task's DDL files, table documents and question-SQL pairs stored in
//! the training store, in one transaction, idempotently (a re-run adds nothing).
use crate::ddl::load_catalog;
use crate::qa::{latest_pair_file, Pair};
use crate::store::{self, Item};
use bkdata_pipeline::{Step, StepContext, StepError};
use serde_json::{json, Value};

pub struct TrainingLoad;

impl Step for TrainingLoad {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError> {
        let catalog = load_catalog(ctx)?;
        let mut items = Vec::new();
        let read = |name: &str| {
            std::fs::read_to_string(ctx.task_dir.join(name))
                .map_err(|e| StepError(format!("cannot read {name}: {e}")))
        };
        for (_, stem) in &catalog.files {
            for (data_type, name) in [
                ("ddl", format!("{stem}.ddl")),
                ("documentation", format!("{stem}_detail.md")),
            ] {
                items.push(Item {
                    data_type,
                    question: None,
                    content: read(&name)?,
                    source_file: name,
                });
            }
        }
        let pairs_file = latest_pair_file(&ctx.task_dir);
        match &pairs_file {
            Some(file) => {
                let pairs: Vec<Pair> = serde_json::from_str(&read(file)?).map_err(|e| {
                    StepError(format!("{file} is not a list of {{question, sql}}: {e}"))
                })?;
                items.extend(pairs.into_iter().map(|p| Item {
                    data_type: "sql",
                    question: Some(p.question),
                    content: p.sql,
                    source_file: file.clone(),
                }));
            }
            None => {
                ctx.warn("no qs_*_pair.json in the task folder: only DDL and documents are loaded")
            }
        }
        let mut conn = ctx
            .pool
            .get()
            .map_err(|e| StepError(format!("training store unavailable: {e}")))?;
        let (inserted, present) = store::load(
            &mut conn,
            &ctx.app_code,
            &catalog.db_name,
            &ctx.task_id,
            &items,
        )
        .map_err(|e| {
            StepError(format!(
                "loading the training store failed, nothing was loaded: {e}"
            ))
        })?;
        let by_type = |t: &str| items.iter().filter(|i| i.data_type == t).count();
        ctx.info(&format!(
            "training store: {inserted} items added, {present} already present ({} ddl, {} documentation, {} sql)",
            by_type("ddl"),
            by_type("documentation"),
            by_type("sql")
        ));
        Ok(json!({
            "db_name": catalog.db_name, "pair_file": pairs_file, "inserted": inserted,
            "already_present": present,
            "items": {"ddl": by_type("ddl"), "documentation": by_type("documentation"), "sql": by_type("sql")},
        }))
    }
}

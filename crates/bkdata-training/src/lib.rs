//! Seed 002's schema training-data workflow, on the pipeline executor: a registry of business
//! databases (`registry`), the catalog reader (`catalog`), the four steps (`ddl`, `qa`,
//! `validate`, `load`), the training store and its search (`store`), an optional
//! OpenAI-compatible chat endpoint (`llm`) and the demo business database (`demo`).
pub mod catalog;
pub mod ddl;
pub mod demo;
pub mod llm;
pub mod load;
pub mod qa;
pub mod registry;
pub mod store;
pub mod validate;

use bkdata_pipeline::StepRegistry;

/// The four steps of the workflow, ready for the worker.
pub fn steps(config: TrainingConfig) -> StepRegistry {
    StepRegistry::new()
        .register(
            "ddl_generation",
            ddl::DdlGeneration {
                input_dir: config.input_dir,
            },
        )
        .register("qa_generation", qa::QaGeneration)
        .register(
            "sql_validation",
            validate::SqlValidation {
                timeout_ms: config.validation_timeout_ms,
            },
        )
        .register("training_load", load::TrainingLoad)
}

/// The steps' settings (the business databases and the LLM endpoint are read by
/// `Registry::from_env` and `Llm::from_env` when a step needs them).
#[derive(Debug, Clone)]
pub struct TrainingConfig {
    /// Where a `table_list_file` not in the task folder is looked for
    /// (`BKDATA_PIPELINE_INPUT_DIR`; none: `inputs` beside the task folders' root).
    pub input_dir: Option<std::path::PathBuf>,
    /// How long one SQL may take to plan in `sql_validation`
    /// (`BKDATA_SQL_VALIDATION_TIMEOUT_MS`, default 5000).
    pub validation_timeout_ms: u64,
}

impl TrainingConfig {
    pub fn from_env() -> Result<Self, String> {
        Ok(TrainingConfig {
            input_dir: bkdata_models::env::var("BKDATA_PIPELINE_INPUT_DIR").map(Into::into),
            validation_timeout_ms: bkdata_models::env::num(
                "BKDATA_SQL_VALIDATION_TIMEOUT_MS",
                5000,
            )?,
        })
    }
}

/// Whether text reads as Chinese (any CJK ideograph): questions follow `business_context`.
pub fn is_chinese(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

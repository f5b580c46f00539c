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
pub fn steps() -> StepRegistry {
    StepRegistry::new()
        .register("ddl_generation", ddl::DdlGeneration)
        .register("qa_generation", qa::QaGeneration)
        .register("sql_validation", validate::SqlValidation)
        .register("training_load", load::TrainingLoad)
}

/// Whether text reads as Chinese (any CJK ideograph): questions follow `business_context`.
pub fn is_chinese(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

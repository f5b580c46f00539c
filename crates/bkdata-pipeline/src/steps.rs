//! Steps are code behind a trait; the engine owns their order and dependencies.
use crate::error::Result;
use crate::logs::TaskLogger;
use bkdata_api::pipeline::STEP_ORDER;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a step sees: the task's parameters and folder, a logger that writes both the
/// database log and the folder's `data_pipeline.log`, and output registration.
pub struct StepContext<'a> {
    pub task_id: String,
    pub execution_id: String,
    pub step_name: String,
    /// The create request as stored (`table_list_file`, `business_context`, `db_name`, flags).
    pub parameters: Value,
    pub task_dir: PathBuf,
    /// The app that owns the task: what a step stores is scoped to it.
    pub app_code: String,
    /// The platform's database (the training store lives there).
    pub pool: bkdata_models::PgPool,
    pub logger: &'a TaskLogger,
    pub(crate) outputs: Vec<(String, String)>,
    pub(crate) cancel_check: &'a dyn Fn() -> bool,
}

impl StepContext<'_> {
    pub fn info(&self, message: &str) {
        self.logger.log("INFO", Some(&self.step_name), message);
    }
    pub fn warn(&self, message: &str) {
        self.logger.log("WARNING", Some(&self.step_name), message);
    }
    pub fn error(&self, message: &str) {
        self.logger.log("ERROR", Some(&self.step_name), message);
    }

    /// Write `file_name` into the task folder and record it as an output (with its sha256).
    pub fn write_output(&mut self, file_name: &str, bytes: &[u8]) -> Result<PathBuf> {
        crate::files::check_file_name(file_name)?;
        let path = self.task_dir.join(file_name);
        let tmp = self.task_dir.join(format!(".{file_name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        self.outputs
            .push((file_name.to_string(), crate::files::sha256_hex(bytes)));
        Ok(path)
    }

    /// Steps that run long should call this between units of work and stop when it is true.
    pub fn is_cancelled(&self) -> bool {
        (self.cancel_check)()
    }
}

/// A pipeline step. Runs in the execution's child process; blocking work is fine.
/// The returned value is written to `{step}_result.json`.
pub trait Step: Send + Sync {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl From<crate::error::PipelineError> for StepError {
    fn from(e: crate::error::PipelineError) -> Self {
        StepError(e.to_string())
    }
}

impl From<std::io::Error> for StepError {
    fn from(e: std::io::Error) -> Self {
        StepError(e.to_string())
    }
}

/// Step implementations by name. Only the names of `STEP_ORDER` may be registered.
#[derive(Clone, Default)]
pub struct StepRegistry {
    steps: HashMap<String, Arc<dyn Step>>,
}

impl StepRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Panics on a name outside `STEP_ORDER`: that is a programming error.
    pub fn register(mut self, name: &str, step: impl Step + 'static) -> Self {
        assert!(
            STEP_ORDER.contains(&name),
            "unknown step {name:?}; steps are {STEP_ORDER:?}"
        );
        self.steps.insert(name.to_string(), Arc::new(step));
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Step>> {
        self.steps.get(name).cloned()
    }
}

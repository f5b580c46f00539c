//! The real worker with test steps registered through the `Step` trait, plus job types for
//! queue tests. A task's `business_context` drives its steps:
//! `"test: qa_generation=fail; ddl_generation=sleep:2000; sql_validation=panic"`.
//! Every step writes `{step}.out` (one line per run) so tests can count runs.
use bkdata_api::pipeline::STEP_ORDER;
use bkdata_pipeline::{Step, StepContext, StepError, StepRegistry};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

struct TestStep;

fn directive(ctx: &StepContext<'_>) -> Option<String> {
    let context = ctx.parameters.get("business_context")?.as_str()?;
    let rules = context.strip_prefix("test:")?;
    rules.split(';').find_map(|r| {
        let (step, what) = r.trim().split_once('=')?;
        (step.trim() == ctx.step_name).then(|| what.trim().to_string())
    })
}

impl Step for TestStep {
    fn run(&self, ctx: &mut StepContext<'_>) -> Result<Value, StepError> {
        // Count runs with an append-only file: a step run twice shows two lines.
        let marker = ctx.task_dir.join(format!("{}.runs", ctx.step_name));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&marker)?;
        writeln!(f, "{} pid={}", ctx.execution_id, std::process::id())?;
        ctx.info(&format!(
            "test step {} running in pid {}",
            ctx.step_name,
            std::process::id()
        ));
        match directive(ctx).as_deref() {
            Some("fail") => return Err(StepError(format!("{} was told to fail", ctx.step_name))),
            Some("panic") => panic!("{} was told to panic", ctx.step_name),
            Some(s) if s.starts_with("sleep:") => {
                let ms: u64 = s[6..].parse().unwrap_or(1000);
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until {
                    if ctx.is_cancelled() {
                        return Err(StepError("cancelled".into()));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            _ => {}
        }
        let body = format!("output of {} for {}\n", ctx.step_name, ctx.task_id);
        ctx.write_output(&format!("{}.out", ctx.step_name), body.as_bytes())?;
        Ok(json!({"step": ctx.step_name}))
    }
}

// Records are many small allocations; mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let registry = STEP_ORDER
        .iter()
        .fold(StepRegistry::new(), |r, s| r.register(s, TestStep));
    bkdata_worker::main_with(registry, |runner| {
        runner.register("noop", |_ctx: bkdata_models::jobs::JobContext| async {
            Ok(())
        })
    })
}

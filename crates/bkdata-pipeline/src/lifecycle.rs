//! A pipeline task's lifecycle: its status follows from its steps' statuses, and a step runs
//! only after the steps before it in the fixed order (pure, unit-tested).
use bkdata_api::pipeline::STEP_ORDER;
use bkdata_models::states::{StepStatus, TaskStatus};
use serde_json::Value;
use std::collections::BTreeMap;

/// Each step's status, as the task's `step_status` holds them (a malformed value reads as
/// no steps).
pub fn step_map(v: &Value) -> StepMap {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

pub type StepMap = BTreeMap<String, StepStatus>;

/// Each step's status as the API shows it.
pub fn step_texts(steps: &StepMap) -> BTreeMap<String, String> {
    steps
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

/// The step statuses of a new task: its enabled steps pending, the others skipped.
pub fn initial_steps(enabled: &[&str]) -> StepMap {
    STEP_ORDER
        .iter()
        .map(|s| {
            let st = if enabled.contains(s) {
                StepStatus::Pending
            } else {
                StepStatus::Skipped
            };
            (s.to_string(), st)
        })
        .collect()
}

/// The task status that follows from its steps (seed: pending, in_progress,
/// partial_completed, completed, failed). Skipped steps count as done.
pub fn derive_task_status(steps: &StepMap, live: bool) -> TaskStatus {
    if live {
        return TaskStatus::InProgress;
    }
    let has = |x: StepStatus| steps.values().any(|s| *s == x);
    if has(StepStatus::Failed) {
        TaskStatus::Failed
    } else if steps.values().all(|s| s.is_done()) {
        TaskStatus::Completed
    } else if has(StepStatus::Completed) {
        TaskStatus::PartialCompleted
    } else {
        TaskStatus::Pending
    }
}

/// The steps before `step` in the fixed order that are neither completed nor skipped.
pub fn missing_dependencies(step: &str, status: &StepMap) -> Vec<&'static str> {
    let pos = STEP_ORDER.iter().position(|s| *s == step).unwrap_or(0);
    STEP_ORDER[..pos]
        .iter()
        .copied()
        .filter(|s| !status.get(*s).is_some_and(|st| st.is_done()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: [&str; 4]) -> StepMap {
        STEP_ORDER
            .iter()
            .zip(v)
            .map(|(k, v)| (k.to_string(), StepStatus::parse(v).unwrap()))
            .collect()
    }

    #[test]
    fn task_status_follows_the_steps() {
        let s = |v| derive_task_status(&steps(v), false).as_str();
        assert_eq!(s(["pending"; 4]), "pending");
        assert_eq!(
            s(["completed", "pending", "pending", "pending"]),
            "partial_completed"
        );
        assert_eq!(
            s(["completed", "completed", "skipped", "skipped"]),
            "completed"
        );
        assert_eq!(s(["completed", "failed", "pending", "pending"]), "failed");
        assert_eq!(s(["cancelled", "pending", "pending", "pending"]), "pending");
        assert_eq!(
            derive_task_status(&steps(["completed"; 4]), true),
            TaskStatus::InProgress
        );
    }

    #[test]
    fn dependencies_are_the_earlier_unfinished_steps() {
        let st = steps(["completed", "pending", "skipped", "pending"]);
        assert!(missing_dependencies("ddl_generation", &st).is_empty());
        assert!(missing_dependencies("qa_generation", &st).is_empty());
        assert_eq!(
            missing_dependencies("sql_validation", &st),
            ["qa_generation"]
        );
        assert_eq!(
            missing_dependencies("training_load", &st),
            ["qa_generation"]
        );
    }
}

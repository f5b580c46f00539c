//! A pipeline task's lifecycle: its status follows from its steps' statuses, and a step runs
//! only after the steps before it in the fixed order (pure, unit-tested).
use bkdata_api::pipeline::STEP_ORDER;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) fn step_map(v: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The task status that follows from its steps (seed: pending, in_progress,
/// partial_completed, completed, failed). Skipped steps count as done.
pub fn derive_task_status(steps: &BTreeMap<String, String>, live: bool) -> &'static str {
    if live {
        return "in_progress";
    }
    let vals: Vec<&str> = steps.values().map(String::as_str).collect();
    if vals.contains(&"failed") {
        "failed"
    } else if vals.iter().all(|s| *s == "completed" || *s == "skipped") {
        "completed"
    } else if vals.contains(&"completed") {
        "partial_completed"
    } else {
        "pending"
    }
}

/// The steps before `step` in the fixed order that are neither completed nor skipped.
pub fn missing_dependencies(step: &str, status: &BTreeMap<String, String>) -> Vec<&'static str> {
    let pos = STEP_ORDER.iter().position(|s| *s == step).unwrap_or(0);
    STEP_ORDER[..pos]
        .iter()
        .copied()
        .filter(|s| {
            !matches!(
                status.get(*s).map(String::as_str),
                Some("completed") | Some("skipped")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: [&str; 4]) -> BTreeMap<String, String> {
        STEP_ORDER
            .iter()
            .zip(v)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn task_status_follows_the_steps() {
        let s = |v| derive_task_status(&steps(v), false);
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
            "in_progress"
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

//! An execution's bookkeeping in the database: step statuses, the task status that follows,
//! ending an execution (its running steps take the outcome) and recording outputs. Used by the
//! job, its child process and the service.
use crate::error::Result;
use crate::files;
use crate::lifecycle::{derive_task_status, step_map};
use bkdata_models::pipeline::{Execution, Task};
use bkdata_models::schema::{
    data_pipeline_task_executions as e, data_pipeline_task_outputs as o, data_pipeline_tasks as t,
};
use bkdata_models::states::{ExecutionStatus, StepStatus, TaskStatus};
use diesel::prelude::*;
use diesel::sql_types::Text;

/// Set one step's status in the task's `step_status`.
pub(crate) fn set_step_status(
    conn: &mut PgConnection,
    task_id: &str,
    step: &str,
    status: StepStatus,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE data_pipeline_tasks SET step_status = jsonb_set(step_status, ARRAY[$2], to_jsonb($3::text)), \
         updated_at = now() WHERE task_id = $1",
    )
    .bind::<Text, _>(task_id)
    .bind::<Text, _>(step)
    .bind::<Text, _>(status.as_str())
    .execute(conn)
}

/// Recompute the task status from its steps and live executions.
pub fn settle_task_status(conn: &mut PgConnection, task_id: &str) -> Result<TaskStatus> {
    let task: Task = t::table
        .find(task_id)
        .select(Task::as_select())
        .first(conn)?;
    let live: i64 = e::table
        .filter(e::task_id.eq(task_id))
        .filter(e::status.eq_any(ExecutionStatus::LIVE))
        .count()
        .get_result(conn)?;
    let status = derive_task_status(&step_map(&task.step_status), live > 0);
    let completed_at = (status == TaskStatus::Completed).then(chrono::Utc::now);
    diesel::update(t::table.find(task_id))
        .set((
            t::status.eq(status),
            t::completed_at.eq(completed_at),
            t::updated_at.eq(chrono::Utc::now()),
        ))
        .execute(conn)?;
    Ok(status)
}

/// Lock an execution row; `None` when it is gone or already final.
pub(crate) fn lock_live_execution(
    c: &mut PgConnection,
    execution_id: &str,
) -> QueryResult<Option<Execution>> {
    let x: Option<Execution> = e::table
        .find(execution_id)
        .select(Execution::as_select())
        .for_update()
        .first(c)
        .optional()?;
    Ok(x.filter(Execution::is_live))
}

/// End a live execution: its running steps take the outcome, the task status follows.
pub fn finish_execution(
    conn: &mut PgConnection,
    execution_id: &str,
    status: ExecutionStatus,
    error: Option<&str>,
) -> Result<bool> {
    conn.transaction(|c| {
        let Some(x) = lock_live_execution(c, execution_id)? else {
            return Ok(false);
        };
        diesel::update(e::table.find(execution_id))
            .set((
                e::status.eq(status),
                e::completed_at.eq(chrono::Utc::now()),
                e::error_message.eq(error),
                e::child_pid.eq(None::<i32>),
            ))
            .execute(c)?;
        let task: Task = t::table
            .find(&x.task_id)
            .select(Task::as_select())
            .first(c)?;
        let steps = step_map(&task.step_status);
        let step_outcome = status.step_outcome();
        let mut marked = false;
        for s in x.step_names() {
            if steps.get(&s) == Some(&StepStatus::Running) {
                set_step_status(c, &x.task_id, &s, step_outcome)?;
                marked = true;
            }
        }
        // Died between steps (or before the first): the step it was about to run failed.
        if status == ExecutionStatus::Failed && !marked {
            let done = completed_steps(&x);
            if let Some(next) = x.step_names().into_iter().find(|s| !done.contains(s)) {
                set_step_status(c, &x.task_id, &next, StepStatus::Failed)?;
            }
        }
        if let Some(err) = error {
            diesel::update(t::table.find(&x.task_id))
                .set(t::error_message.eq(err))
                .execute(c)?;
        }
        settle_task_status(c, &x.task_id)?;
        Ok(true)
    })
}

/// Record a file of the task folder as an output, with the sha256 it was written with.
pub(crate) fn record_output(
    conn: &mut PgConnection,
    task_id: &str,
    execution_id: Option<&str>,
    step: Option<&str>,
    dir: &std::path::Path,
    name: &str,
    sha: &str,
) -> Result<()> {
    let size = std::fs::metadata(dir.join(name))
        .map(|m| m.len() as i64)
        .unwrap_or(0);
    diesel::insert_into(o::table)
        .values((
            o::task_id.eq(task_id),
            o::execution_id.eq(execution_id),
            o::step_name.eq(step),
            o::file_name.eq(name),
            o::file_type.eq(files::file_type(name)),
            o::file_size.eq(size),
            o::sha256.eq(sha),
        ))
        .on_conflict((o::task_id, o::file_name))
        .do_update()
        .set((
            o::execution_id.eq(execution_id),
            o::step_name.eq(step),
            o::file_size.eq(size),
            o::sha256.eq(sha),
            o::created_at.eq(chrono::Utc::now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn completed_steps(x: &Execution) -> Vec<String> {
    x.result
        .as_ref()
        .and_then(|r| r.get("completed_steps"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

//! Monitoring: host samples (taken by workers into `system_metrics`), system status, per-task
//! monitor, history, anomalies and stats.
use crate::error::{PipelineError, Result};
use crate::files;
use crate::lifecycle::step_map;
use crate::service::{Caller, Service};
use crate::timefmt::{wire, wire_opt};
use bkdata_models::jobs::queue_stats;
use bkdata_models::pipeline::{Execution, SystemMetric, Task};
use bkdata_models::schema::{
    data_pipeline_task_executions as e, data_pipeline_task_logs as l, data_pipeline_tasks as t,
    system_metrics as m, workers as w,
};
use bkdata_models::states::{ExecutionStatus, TaskStatus};
use diesel::prelude::*;
use serde_json::{json, Value};
use std::path::Path;

/// Executions running longer than this are reported (the seed's "zombie" threshold).
pub const LONG_RUNNING_HOURS: i64 = 2;
/// Disk usage at or above this percentage is "nearly full".
pub const DISK_WARN_PERCENT: f64 = 90.0;
/// A worker not seen for this long is counted as gone.
pub const WORKER_STALE_SECS: i64 = 120;

#[derive(Debug, Clone, serde::Serialize)]
pub struct HostSample {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_percent: f64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
}

/// Measure the host; CPU over a short interval, disk of the file system holding `data_root`.
pub fn sample_host(data_root: &Path) -> HostSample {
    use sysinfo::{Disks, System};
    let mut sys = System::new();
    sys.refresh_cpu_usage();
    std::thread::sleep(
        sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(std::time::Duration::from_millis(200)),
    );
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    let disks = Disks::new_with_refreshed_list();
    let root = data_root
        .canonicalize()
        .unwrap_or_else(|_| data_root.to_path_buf());
    let disk = disks
        .list()
        .iter()
        .filter(|d| root.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len());
    let (disk_total, disk_free) = disk
        .map(|d| (d.total_space(), d.available_space()))
        .unwrap_or((0, 0));
    let pct = |used: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            (used as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    let disk_used = disk_total.saturating_sub(disk_free);
    HostSample {
        cpu_percent: (sys.global_cpu_usage() as f64 * 10.0).round() / 10.0,
        memory_percent: pct(sys.used_memory(), sys.total_memory()),
        memory_used_bytes: sys.used_memory(),
        memory_total_bytes: sys.total_memory(),
        disk_percent: pct(disk_used, disk_total),
        disk_used_bytes: disk_used,
        disk_total_bytes: disk_total,
    }
}

pub fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "unknown".into())
}

pub fn record_sample(
    conn: &mut PgConnection,
    worker_id: &str,
    s: &HostSample,
    running: usize,
) -> QueryResult<usize> {
    diesel::insert_into(m::table)
        .values((
            m::worker_id.eq(worker_id),
            m::hostname.eq(hostname()),
            m::cpu_percent.eq(s.cpu_percent),
            m::memory_percent.eq(s.memory_percent),
            m::memory_used_bytes.eq(s.memory_used_bytes as i64),
            m::memory_total_bytes.eq(s.memory_total_bytes as i64),
            m::disk_percent.eq(s.disk_percent),
            m::disk_used_bytes.eq(s.disk_used_bytes as i64),
            m::disk_total_bytes.eq(s.disk_total_bytes as i64),
            m::running_executions.eq(running as i32),
        ))
        .execute(conn)
}

/// Samples older than `keep_days` are dropped by the worker that samples.
pub fn prune_samples(conn: &mut PgConnection, keep_days: i64) -> QueryResult<usize> {
    diesel::delete(
        m::table.filter(m::sampled_at.lt(chrono::Utc::now() - chrono::Duration::days(keep_days))),
    )
    .execute(conn)
}

/// `{total, <each key>: n}` from (status, count) rows; keys absent from the rows count 0.
fn tally(rows: Vec<(String, i64)>, keys: &[impl std::fmt::Display]) -> Value {
    let mut out = json!({"total": rows.iter().map(|(_, n)| n).sum::<i64>()});
    for k in keys {
        out[k.to_string()] = json!(0);
    }
    for (s, n) in rows {
        out[s] = json!(n);
    }
    out
}

fn counts_by(conn: &mut PgConnection, caller: &Caller) -> Result<Value> {
    let rows: Vec<(String, i64)> = t::table
        .filter(t::bk_app_code.eq(&caller.app_code))
        .group_by(t::status)
        .select((t::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(tally(rows, TaskStatus::ALL))
}

fn exec_counts(conn: &mut PgConnection, caller: &Caller) -> Result<Value> {
    let owned = t::table
        .filter(t::bk_app_code.eq(&caller.app_code))
        .select(t::task_id);
    let rows: Vec<(String, i64)> = e::table
        .filter(e::task_id.eq_any(owned))
        .group_by(e::status)
        .select((e::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(tally(rows, ExecutionStatus::ALL))
}

impl Service {
    fn anomalies_for(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        hours: i64,
        task_id: Option<&str>,
    ) -> Result<Vec<Value>> {
        let now = chrono::Utc::now();
        let since = now - chrono::Duration::hours(hours);
        let owned = t::table
            .filter(t::bk_app_code.eq(&caller.app_code))
            .select(t::task_id);
        let mut q = e::table.filter(e::task_id.eq_any(owned)).into_boxed();
        if let Some(id) = task_id {
            q = q.filter(e::task_id.eq(id.to_string()));
        }
        let rows: Vec<Execution> = q
            .filter(
                e::status
                    .eq(ExecutionStatus::Running)
                    .and(e::started_at.lt(now - chrono::Duration::hours(LONG_RUNNING_HOURS)))
                    .or(e::status
                        .eq(ExecutionStatus::Failed)
                        .and(e::completed_at.ge(since))),
            )
            .order(e::created_at.desc())
            .limit(500)
            .select(Execution::as_select())
            .load(conn)?;
        let mut out = Vec::new();
        for x in rows {
            if x.status == ExecutionStatus::Running {
                let hrs = x
                    .started_at
                    .map(|s| (now - s).num_minutes() as f64 / 60.0)
                    .unwrap_or(0.0);
                out.push(json!({
                    "type": "long_running_execution", "severity": "warning",
                    "task_id": x.task_id, "execution_id": x.execution_id,
                    "message": format!("execution has been running for {hrs:.1} h (over {LONG_RUNNING_HOURS} h)"),
                    "detected_at": wire(now), "started_at": wire_opt(x.started_at),
                }));
            } else {
                out.push(json!({
                    "type": "failed_step", "severity": "error",
                    "task_id": x.task_id, "execution_id": x.execution_id, "step_name": x.execution_step,
                    "message": x.error_message.clone().unwrap_or_else(|| "execution failed".into()),
                    "detected_at": wire_opt(x.completed_at),
                }));
            }
        }
        if task_id.is_none() {
            let latest: Option<SystemMetric> = m::table
                .filter(m::sampled_at.ge(since))
                .order(m::sampled_at.desc())
                .select(SystemMetric::as_select())
                .first(conn)
                .optional()?;
            let disk = match latest {
                Some(s) => s.disk_percent,
                None => sample_disk_percent(&self.data_root),
            };
            if disk >= DISK_WARN_PERCENT {
                out.push(json!({
                    "type": "disk_nearly_full", "severity": "critical",
                    "message": format!("disk holding the data folder is {disk:.1}% full (threshold {DISK_WARN_PERCENT}%)"),
                    "detected_at": wire(now),
                }));
            }
        }
        Ok(out)
    }

    pub fn anomalies(&self, caller: &Caller, hours: Option<i64>) -> Result<Value> {
        let hours = hours.unwrap_or(24);
        if !(1..=24 * 90).contains(&hours) {
            return Err(PipelineError::validation_with(
                "hours must be between 1 and 2160",
                json!({"field": "hours", "value": hours}),
            ));
        }
        let mut conn = self.conn()?;
        let list = self.anomalies_for(&mut conn, caller, hours, None)?;
        Ok(json!({"hours": hours, "total": list.len(), "anomalies": list}))
    }

    pub fn system_status(&self, caller: &Caller) -> Result<Value> {
        let mut conn = self.conn()?;
        let host = sample_host(&self.data_root);
        let tasks = counts_by(&mut conn, caller)?;
        let executions = exec_counts(&mut conn, caller)?;
        let queue = queue_stats(&mut conn)?;
        let alive: i64 = w::table
            .filter(w::stopped_at.is_null())
            .filter(
                w::last_seen_at
                    .ge(chrono::Utc::now() - chrono::Duration::seconds(WORKER_STALE_SECS)),
            )
            .count()
            .get_result(&mut conn)?;
        let anomalies = self.anomalies_for(&mut conn, caller, 24, None)?;
        let (data_bytes, data_files) = files::dir_usage(&self.data_root);
        let mut issues = Vec::new();
        if alive == 0 {
            issues.push(
                "no live worker: executions stay queued until a bkdata-worker runs".to_string(),
            );
        }
        if host.disk_percent >= DISK_WARN_PERCENT {
            issues.push(format!("disk {:.1}% full", host.disk_percent));
        }
        if host.memory_percent >= 95.0 {
            issues.push(format!("memory {:.1}% used", host.memory_percent));
        }
        let status = if host.disk_percent >= DISK_WARN_PERCENT {
            "critical"
        } else if issues.is_empty() && anomalies.is_empty() {
            "healthy"
        } else {
            "warning"
        };
        Ok(json!({
            "timestamp": wire(chrono::Utc::now()),
            "system": host,
            "tasks": tasks,
            "executions": executions,
            "queue": queue,
            "disk_usage": {"data_root": self.data_root, "total_bytes": data_bytes, "file_count": data_files},
            "anomalies": {"total": anomalies.len(), "recent": anomalies.into_iter().take(20).collect::<Vec<_>>()},
            "health": {"status": status, "database": "ok", "workers_alive": alive, "issues": issues},
        }))
    }

    pub fn task_monitor(&self, caller: &Caller, task_id: &str) -> Result<Value> {
        let mut conn = self.conn()?;
        let task: Task = self.load_task(&mut conn, caller, task_id)?;
        let executions = Service::exec_views(&mut conn, task_id)?;
        let levels: Vec<(String, i64)> = l::table
            .filter(l::task_id.eq(task_id))
            .group_by(l::level)
            .select((l::level, diesel::dsl::count_star()))
            .load(&mut conn)?;
        let anomalies = self.anomalies_for(&mut conn, caller, 24 * 90, Some(task_id))?;
        let dir = self.task_dir(task_id)?;
        let (bytes, count) = files::dir_usage(&dir);
        let running_since: Option<chrono::DateTime<chrono::Utc>> = e::table
            .filter(e::task_id.eq(task_id))
            .filter(e::status.eq(ExecutionStatus::Running))
            .select(e::started_at)
            .first(&mut conn)
            .optional()?
            .flatten();
        let running_for =
            running_since.map(|s| (chrono::Utc::now() - s).num_milliseconds() as f64 / 1000.0);
        Ok(json!({
            "task_id": task_id,
            "status": task.status,
            "step_status": step_map(&task.step_status),
            "created_at": wire(task.created_at),
            "started_at": wire_opt(task.started_at),
            "completed_at": wire_opt(task.completed_at),
            "running_seconds": running_for,
            "executions": {"total": executions.len(), "latest": executions.first(), "history": executions},
            "logs": levels.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "files": {"count": count, "total_bytes": bytes, "task_dir_exists": dir.exists()},
            "anomalies": anomalies,
        }))
    }

    pub fn metrics_history(&self, minutes: Option<i64>) -> Result<Value> {
        let minutes = minutes.unwrap_or(60);
        if !(1..=60 * 24 * 30).contains(&minutes) {
            return Err(PipelineError::validation_with(
                "minutes must be between 1 and 43200",
                json!({"field": "minutes", "value": minutes}),
            ));
        }
        let mut conn = self.conn()?;
        let rows: Vec<SystemMetric> = m::table
            .filter(m::sampled_at.ge(chrono::Utc::now() - chrono::Duration::minutes(minutes)))
            .order(m::sampled_at.asc())
            .limit(100_000)
            .select(SystemMetric::as_select())
            .load(&mut conn)?;
        let metrics: Vec<Value> = rows
            .into_iter()
            .map(|s| {
                json!({
                    "timestamp": wire(s.sampled_at), "worker_id": s.worker_id, "hostname": s.hostname,
                    "cpu_percent": s.cpu_percent, "memory_percent": s.memory_percent,
                    "memory_used_bytes": s.memory_used_bytes, "disk_percent": s.disk_percent,
                    "disk_used_bytes": s.disk_used_bytes, "running_executions": s.running_executions,
                })
            })
            .collect();
        Ok(json!({"minutes": minutes, "count": metrics.len(), "metrics": metrics}))
    }

    pub fn stats(&self, caller: &Caller) -> Result<Value> {
        let mut conn = self.conn()?;
        let tasks = counts_by(&mut conn, caller)?;
        let executions = exec_counts(&mut conn, caller)?;
        let owned = t::table
            .filter(t::bk_app_code.eq(&caller.app_code))
            .select(t::task_id);
        let finished: Vec<Execution> = e::table
            .filter(e::task_id.eq_any(owned))
            .filter(e::status.eq_any(ExecutionStatus::FINAL))
            .order(e::created_at.desc())
            .limit(10_000)
            .select(Execution::as_select())
            .load(&mut conn)?;
        let durations: Vec<f64> = finished
            .iter()
            .filter_map(|x| {
                Some((x.completed_at? - x.started_at?).num_milliseconds() as f64 / 1000.0)
            })
            .collect();
        let done = finished
            .iter()
            .filter(|x| x.status == ExecutionStatus::Completed)
            .count();
        let failed = finished
            .iter()
            .filter(|x| x.status == ExecutionStatus::Failed)
            .count();
        let mut per_step = serde_json::Map::new();
        for x in &finished {
            let entry = per_step.entry(x.execution_step.clone()).or_insert_with(|| {
                Value::Object(
                    ExecutionStatus::FINAL
                        .iter()
                        .map(|s| (s.to_string(), json!(0)))
                        .collect(),
                )
            });
            let key = x.status.as_str();
            entry[key] = json!(entry[key].as_i64().unwrap_or(0) + 1);
        }
        let (bytes, count) = files::dir_usage(&self.data_root);
        Ok(json!({
            "tasks": tasks,
            "executions": executions,
            "success_rate": if done + failed == 0 { Value::Null } else { json!(done as f64 / (done + failed) as f64) },
            "avg_execution_seconds": if durations.is_empty() { Value::Null } else { json!(durations.iter().sum::<f64>() / durations.len() as f64) },
            "by_execution_step": per_step,
            "files": {"total_bytes": bytes, "file_count": count},
        }))
    }
}

fn sample_disk_percent(root: &Path) -> f64 {
    use sysinfo::Disks;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    Disks::new_with_refreshed_list()
        .list()
        .iter()
        .filter(|d| root.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| {
            let total = d.total_space();
            if total == 0 {
                0.0
            } else {
                (total - d.available_space()) as f64 * 100.0 / total as f64
            }
        })
        .unwrap_or(0.0)
}

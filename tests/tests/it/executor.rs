//! The executor: step failures, panics, a child killed from outside, cancel, order and force.
use bkdata_tests::*;
use diesel::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

async fn logs(srv: &TestServer, task: &str) -> Vec<Value> {
    let (_, v) = srv.get(&format!("/tasks/{task}/logs?limit=1000")).await;
    v["data"]["logs"].as_array().unwrap().clone()
}

fn child_pid(db: &TestDb, task: &str) -> Option<i32> {
    use bkdata_models::schema::data_pipeline_task_executions as e;
    e::table
        .filter(e::task_id.eq(task))
        .filter(e::status.eq("running"))
        .select(e::child_pid)
        .first::<Option<i32>>(&mut db.conn())
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_fails_the_execution_and_stops_the_workflow() {
    let srv = TestServer::start().await;
    let _w = srv.worker(&[]);
    let task = srv.create_task("test: qa_generation=fail").await;
    srv.post(&format!("/tasks/{task}/execute"), json!({})).await;
    let st = srv.wait_status(&task, &["failed"], WAIT).await;
    assert_eq!(
        st["step_status"],
        json!({"ddl_generation": "completed", "qa_generation": "failed", "sql_validation": "pending", "training_load": "pending"})
    );
    assert_eq!(st["current_execution"]["status"], "failed");
    assert!(
        st["error_message"]
            .as_str()
            .unwrap()
            .contains("qa_generation was told to fail"),
        "{st}"
    );
    let errors: Vec<Value> = logs(&srv, &task)
        .await
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(
        errors.iter().any(|l| l["step_name"] == "qa_generation"),
        "{errors:?}"
    );
    assert!(!srv
        .data_dir
        .join(&task)
        .join("sql_validation.runs")
        .exists());
    let (_, v) = srv.get("/monitor/anomalies?hours=1").await;
    assert!(
        v["data"]["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "failed_step" && a["task_id"] == task.as_str()),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_step_is_recorded_as_failed_with_its_log() {
    let srv = TestServer::start().await;
    let _w = srv.worker(&[]);
    let task = srv.create_task("test: ddl_generation=panic").await;
    srv.post(
        &format!("/tasks/{task}/execute"),
        json!({"execution_mode": "step", "step_name": "ddl_generation"}),
    )
    .await;
    let st = srv.wait_status(&task, &["failed"], WAIT).await;
    assert_eq!(st["step_status"]["ddl_generation"], "failed");
    assert!(
        st["error_message"]
            .as_str()
            .unwrap()
            .contains("panicked: ddl_generation was told to panic"),
        "{st}"
    );
    let file_log =
        std::fs::read_to_string(srv.data_dir.join(&task).join("data_pipeline.log")).unwrap();
    assert!(
        file_log.contains("test step ddl_generation running"),
        "{file_log}"
    );
    assert!(
        file_log.contains("[ERROR]") && file_log.contains("told to panic"),
        "{file_log}"
    );
}

/// A server, a worker, and a task whose first step sleeps 30 s, running; with its child's pid.
async fn sleeping_execution() -> (TestServer, WorkerProc, String, i32) {
    let srv = TestServer::start().await;
    let w = srv.worker(&[]);
    let task = srv.create_task("test: ddl_generation=sleep:30000").await;
    srv.post(&format!("/tasks/{task}/execute"), json!({})).await;
    let pid = eventually(WAIT, "the child to start", || async {
        child_pid(&srv.db, &task)
    })
    .await;
    (srv, w, task, pid)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_killed_from_outside_fails_the_execution_with_the_reason() {
    let (srv, _w, task, pid) = sleeping_execution().await;
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on the execution's child process.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let st = srv.wait_status(&task, &["failed"], WAIT).await;
    assert_eq!(st["step_status"]["ddl_generation"], "failed");
    let msg = st["error_message"].as_str().unwrap();
    assert!(msg.contains("killed by signal 9"), "{msg}");
    // The worker marks the execution failed, then writes its log line: poll for it.
    eventually(WAIT, "the ERROR log line naming the signal", || async {
        logs(&srv, &task)
            .await
            .iter()
            .any(|l| l["level"] == "ERROR" && l["message"].as_str().unwrap().contains("signal 9"))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_running_execution() {
    let (srv, _w, task, pid) = sleeping_execution().await;
    srv.wait_step(&task, "ddl_generation", "running", WAIT)
        .await;
    let (_, m) = srv.get(&format!("/monitor/tasks/{task}")).await;
    assert!(
        m["data"]["running_seconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0),
        "{m}"
    );
    let started = std::time::Instant::now();
    let (s, v) = srv.post(&format!("/tasks/{task}/cancel"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["status"], "cancelling");
    let st = srv.wait_status(&task, &["pending"], WAIT).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cancel took {:?}",
        started.elapsed()
    );
    assert_eq!(st["current_execution"]["status"], "cancelled");
    assert_eq!(st["step_status"]["ddl_generation"], "cancelled");
    // The child is gone.
    eventually(WAIT, "the child to exit", || async {
        #[allow(unsafe_code)]
        // SAFETY: signal 0 only checks that the pid exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid);
        (!alive).then_some(())
    })
    .await;
    // And the task can run again.
    let (s, _) = srv
        .post(
            &format!("/tasks/{task}/execute"),
            json!({"execution_mode": "step", "step_name": "ddl_generation"}),
        )
        .await;
    assert_eq!(s, 202);
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn force_execution_skips_the_order_check_and_disabled_steps_are_skipped() {
    let srv = TestServer::start().await;
    let _w = srv.worker(&[]);
    let task = srv.create_task("forced").await;
    let (s, v) = srv.post(&format!("/tasks/{task}/execute"), json!({"execution_mode": "step", "step_name": "sql_validation", "force_execution": true})).await;
    assert_eq!(s, 202, "{v}");
    let st = srv.wait_status(&task, &["partial_completed"], WAIT).await;
    assert_eq!(st["step_status"]["sql_validation"], "completed");
    assert_eq!(st["step_status"]["ddl_generation"], "pending");

    let (s, v) = srv
        .post("/tasks", json!({"table_list_file": "t.txt", "business_context": "no validation", "enable_sql_validation": false, "enable_training_data_load": false}))
        .await;
    assert_eq!(s, 201);
    let t2 = v["data"]["task_id"].as_str().unwrap().to_string();
    let (_, v) = srv.get(&format!("/tasks/{t2}")).await;
    assert_eq!(v["data"]["step_status"]["sql_validation"], "skipped");
    srv.post(
        &format!("/tasks/{t2}/execute"),
        json!({"execution_mode": "complete"}),
    )
    .await;
    let st = srv.wait_status(&t2, &["completed"], WAIT).await;
    assert_eq!(
        st["step_status"],
        json!({"ddl_generation": "completed", "qa_generation": "completed", "sql_validation": "skipped", "training_load": "skipped"})
    );
    assert!(!srv.data_dir.join(&t2).join("sql_validation.runs").exists());
}

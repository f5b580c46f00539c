//! Data pipeline tasks (seed 002): create, execute, follow, logs, files, training data.
use super::*;

pub(crate) async fn pipeline(c: &BkDataClient, cmd: PipelineCmd, fmt: Format) -> Out {
    use bkdata_api::pipeline::{ArchiveRequest, CreateTaskRequest, ExecuteRequest};
    let show = |v: Value| printed(fmt, v);
    match cmd {
        PipelineCmd::Create {
            table_list_file,
            business_context,
            db_name,
        } => {
            let r = c
                .create_task(&CreateTaskRequest {
                    table_list_file,
                    business_context,
                    db_name,
                    enable_sql_validation: true,
                    enable_llm_repair: true,
                    modify_original_file: true,
                    enable_training_data_load: true,
                })
                .await?;
            show(val(&r))
        }
        PipelineCmd::Execute {
            task_id,
            mode,
            step,
            force,
        } => {
            let r = c
                .execute_task(
                    &task_id,
                    &ExecuteRequest {
                        execution_mode: Some(mode),
                        step_name: step,
                        force_execution: force,
                        clean_existing_files: false,
                    },
                )
                .await?;
            show(val(&r))
        }
        PipelineCmd::Status { task_id } => show(val(&c.get_task(&task_id).await?)),
        PipelineCmd::Watch { task_id } => {
            let mut last = String::new();
            loop {
                let t = c.get_task(&task_id).await?;
                let line = output::steps_progress(&t.status, &t.step_status);
                if line != last {
                    eprintln!("{line}");
                    last = line;
                }
                match t.status.as_str() {
                    "completed" => return show(val(&t)),
                    "failed" | "partial_completed" => {
                        return Err(Fail(
                            10,
                            format!(
                                "task {task_id} ended {}; see `bkdata pipeline logs {task_id}`",
                                t.status
                            ),
                        ))
                    }
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        PipelineCmd::Logs { task_id, follow } => {
            let mut seen = 0i64;
            loop {
                let logs = c.get_task_logs(&task_id, json!({"limit": 1000})).await?;
                let mut new: Vec<_> = logs.logs.iter().filter(|l| l.id > seen).collect();
                new.sort_by_key(|l| l.id);
                for l in new {
                    println!("{} {:<7} {}", l.timestamp, l.level, l.message);
                    seen = seen.max(l.id);
                }
                if !follow {
                    return Ok(());
                }
                let t = c.get_task(&task_id).await?;
                if matches!(
                    t.status.as_str(),
                    "completed" | "failed" | "partial_completed"
                ) && t.current_execution.is_none()
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        PipelineCmd::Files { task_id } => show(val(&c.list_task_files(&task_id).await?)),
        PipelineCmd::Download {
            task_id,
            file_name,
            out,
        } => {
            let bytes = c.download_task_file(&task_id, &file_name).await?;
            let path = out.unwrap_or_else(|| file_name.clone());
            std::fs::write(&path, &bytes)
                .map_err(|e| Fail(9, format!("cannot write {path}: {e}")))?;
            eprintln!("{} bytes written to {path}", bytes.len());
            Ok(())
        }
        PipelineCmd::Archive { task_id } => show(val(&c
            .archive_task_files(&task_id, &ArchiveRequest::default())
            .await?)),
        PipelineCmd::Upload { task_id, file } => {
            let text = read_text(&file)?;
            show(val(&c.upload_table_list(&task_id, &text).await?))
        }
        PipelineCmd::Search {
            query,
            data_type,
            limit,
        } => {
            let found = c
                .search_training_data(&query, data_type.as_deref(), Some(limit))
                .await?;
            if fmt == Format::Json {
                return show(val(&found));
            }
            let rows: Vec<Vec<String>> = found
                .items
                .iter()
                .map(|i| {
                    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
                    vec![
                        format!("{:.3}", i.score),
                        i.data_type.clone(),
                        i.question.clone().unwrap_or_else(|| first(&i.content)),
                        if i.question.is_some() {
                            i.content.clone()
                        } else {
                            i.source_file.clone()
                        },
                    ]
                })
                .collect();
            println!(
                "{}",
                output::table(
                    &[
                        "score".into(),
                        "type".into(),
                        "question / first line".into(),
                        "sql / file".into()
                    ],
                    &rows
                )
            );
            Ok(())
        }
        PipelineCmd::Databases => show(val(&c.list_business_databases().await?)),
    }
}

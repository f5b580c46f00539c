//! Raw data, cleans, storages, clusters, tasks, result tables, projects and queries.
use super::*;

pub(crate) async fn rawdata(c: &BkDataClient, cmd: RawCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        RawCmd::Create {
            biz,
            name,
            description,
        } => show(val(&c
            .create_raw_data(&RawDataRequest {
                description: Some(description),
                ..RawDataRequest::new(biz, &name)
            })
            .await?)),
        RawCmd::Ingest {
            raw_data_id,
            file,
            batch,
        } => ingest(c, raw_data_id, &file, batch, fmt).await,
        RawCmd::Tail { raw_data_id } => show(val(&c.get_raw_data_tail(raw_data_id).await?)),
    }
}

pub(crate) async fn clean(c: &BkDataClient, cmd: CleanCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        CleanCmd::Create { file } => show(val(&c.databus_cleans_post(&read_json(&file)?).await?)),
        CleanCmd::Verify { conf, msg } => {
            let conf: Value = read_json(&conf)?;
            let v = c.clean_verify(&VerifyRequest::new(&conf, &msg)).await?;
            if fmt == Format::Json {
                return show(v);
            }
            // Each node's value or error, then the row.
            let nodes = v["nodes"].as_object().cloned().unwrap_or_default();
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|(label, n)| {
                    let err = v["errors"][label].as_str().unwrap_or_default().to_string();
                    vec![label.clone(), n.to_string(), err]
                })
                .collect();
            println!(
                "{}",
                output::table(&["node".into(), "value".into(), "error".into()], &rows)
            );
            if let (Some(schema), Some(result)) = (v["schema"].as_array(), v["result"].as_array()) {
                for (row_i, row) in result.iter().enumerate() {
                    println!("\nrow {row_i}:");
                    for (f, val) in schema.iter().zip(row.as_array().into_iter().flatten()) {
                        println!("  {} = {val}", f.as_str().unwrap_or_default());
                    }
                }
            }
            if let Some(e) = v["error_message"].as_str().filter(|e| !e.is_empty()) {
                println!("\nerror: {e}");
            }
            Ok(())
        }
        CleanCmd::List { raw_data_id } => show(val(&c
            .get_cleans(json!({"raw_data_id": raw_data_id}))
            .await?)),
        CleanCmd::Get { processing_id } => show(val(&c.get_clean(&processing_id).await?)),
    }
}

pub(crate) async fn storage(c: &BkDataClient, cmd: StorageCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        StorageCmd::Create { file } => show(val(&c
            .databus_data_storages_post(&read_json(&file)?)
            .await?)),
        StorageCmd::List { raw_data_id, biz } => show(val(&c
            .get_config_db_list(json!({"raw_data_id": raw_data_id, "bk_biz_id": biz}))
            .await?)),
    }
}

pub(crate) async fn task(c: &BkDataClient, cmd: TaskCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        TaskCmd::Start {
            result_table_id,
            storages,
        } => show(val(&c
            .post_tasks(&TaskRequest::new(&result_table_id, storages))
            .await?)),
        TaskCmd::Stop {
            result_table_id,
            storages,
        } => show(val(&c.delete_tasks(&result_table_id, storages).await?)),
        TaskCmd::Status { result_table_id } => show(val(&c.get_tasks(&result_table_id).await?)),
    }
}

pub(crate) async fn rt(c: &BkDataClient, cmd: RtCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        RtCmd::Get { result_table_id } => show(val(&c.get_result_table(&result_table_id).await?)),
        RtCmd::Tail { result_table_id } => {
            show(val(&c.get_result_table_tail(&result_table_id).await?))
        }
    }
}

pub(crate) async fn project(c: &BkDataClient, cmd: ProjectCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    match cmd {
        ProjectCmd::Create { name, biz } => show(val(&c
            .create_project(&ProjectRequest {
                project_name: Some(name),
                bk_biz_id: biz,
                description: None,
            })
            .await?)),
        ProjectCmd::Grant {
            project_id,
            rt,
            biz,
        } => show(val(&c
            .grant_project_data(
                project_id,
                &GrantRequest {
                    result_table_id: Some(rt),
                    bk_biz_id: Some(biz),
                },
            )
            .await?)),
    }
}

pub(crate) async fn cluster(c: &BkDataClient, cmd: ClusterCmd, fmt: Format) -> Out {
    let ClusterCmd::Create { file } = cmd;
    output::print(
        fmt,
        &val(&c.create_storage_cluster(&read_json(&file)?).await?),
    );
    Ok(())
}

pub(crate) async fn query(
    c: &BkDataClient,
    sql: String,
    prefer_storage: Option<String>,
    fmt: Format,
) -> Out {
    let show = |v: Value| printed(fmt, v);
    let q = c
        .query(&QueryRequest {
            sql,
            prefer_storage,
        })
        .await?;
    if fmt == Format::Json {
        return show(val(&q));
    }
    if q.list.is_empty() {
        println!("(no rows)");
    } else {
        let list = Value::Array(q.list.iter().cloned().map(Value::Object).collect());
        println!("{}", output::render(&list, Some(&q.select_fields_order)));
    }
    eprintln!(
        "{} row(s){} in {:.3} s from {}",
        q.total_records,
        if q.truncated { " (truncated)" } else { "" },
        q.timetaken,
        q.device
    );
    Ok(())
}

pub(crate) async fn ingest(
    c: &BkDataClient,
    raw_id: i64,
    file: &str,
    batch: usize,
    fmt: Format,
) -> Out {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail(9, format!("cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| Fail(9, format!("cannot read {file}: {e}")))?
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let total = lines.len();
    let progress = std::io::stderr().is_terminal();
    let mut sent = 0usize;
    for chunk in lines.chunks(batch.max(1)) {
        let mut body = chunk.join("\n");
        body.push('\n');
        c.ingest(raw_id, body.into_bytes()).await.map_err(|e| {
            let f = Fail::from(e);
            Fail(
                f.0,
                format!(
                    "{} ({sent} of {total} records were accepted; resend the rest)",
                    f.1
                ),
            )
        })?;
        sent += chunk.len();
        if progress {
            let pct = sent * 100 / total.max(1);
            eprint!(
                "\r[{:<40}] {sent}/{total} records",
                "#".repeat(pct * 40 / 100)
            );
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    output::print(fmt, &json!({"raw_data_id": raw_id, "records": sent}));
    Ok(())
}

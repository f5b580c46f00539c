//! Flows: create, start, stop, restart (with `--wait` following the deploy), graph, export.
use super::*;

/// Poll the latest deploy until it ends; 10 when it failed. `task_id`: the deploy to wait
/// for (`None`: whichever is latest).
async fn wait_deploy(c: &BkDataClient, flow_id: i64, task_id: Option<i64>, quiet: bool) -> Out {
    let mut printed = 0usize;
    loop {
        let Some(d) = c.get_latest_deploy_data(flow_id).await? else {
            return Err(Fail(1, format!("flow {flow_id} has never been started")));
        };
        if !quiet {
            for l in d.logs.iter().skip(printed) {
                eprintln!("{} {} {}", l.time, l.level, l.message);
            }
            printed = d.logs.len();
        }
        if task_id.is_none_or(|t| t == d.id) {
            match d.status.as_str() {
                "success" => return Ok(()),
                "failure" => {
                    return Err(Fail(
                        10,
                        format!(
                        "deploy {} of flow {flow_id} failed; see `bkdata flow status {flow_id}`",
                        d.id
                    ),
                    ))
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A deploy requested: wait for it when asked, then print its task.
async fn deployed(
    c: &BkDataClient,
    flow_id: i64,
    t: bkdata_api::dataflow::DeployTask,
    wait: bool,
    fmt: Format,
) -> Out {
    if wait {
        wait_deploy(c, flow_id, Some(t.task_id), fmt == Format::Json).await?;
    }
    output::print(fmt, &val(&t));
    Ok(())
}

fn create_body(
    v: Value,
    project: Option<i64>,
    name: Option<String>,
) -> Result<CreateFlowRequest, Fail> {
    let mut req: CreateFlowRequest = match v {
        // Seed 004's `nodes` alone.
        Value::Array(nodes) => CreateFlowRequest {
            nodes,
            ..Default::default()
        },
        other => serde_json::from_value(other)
            .map_err(|e| Fail(9, format!("not a flow create body: {e}")))?,
    };
    if let Some(p) = project {
        req.project_id = p;
    }
    if let Some(n) = name {
        req.flow_name = n;
    }
    if req.project_id == 0 || req.flow_name.is_empty() {
        return Err(Fail(
            2,
            "a flow needs --project and --name (or project_id and flow_name in the file)".into(),
        ));
    }
    Ok(req)
}

pub(crate) async fn flow(c: &BkDataClient, cmd: FlowCmd, fmt: Format) -> Out {
    let show = |v: Value| printed(fmt, v);
    let mode = |m: String| DeployRequest {
        consuming_mode: Some(m),
        cluster_group: None,
    };
    match cmd {
        FlowCmd::Create {
            file,
            project,
            name,
        }
        | FlowCmd::Import {
            file,
            project,
            name,
        } => show(val(&c
            .create_flow(&create_body(read_json(&file)?, project, name)?)
            .await?)),
        FlowCmd::Start {
            flow_id,
            mode: m,
            wait,
        } => {
            let t = c.start_flow(flow_id, &mode(m)).await?;
            deployed(c, flow_id, t, wait, fmt).await
        }
        FlowCmd::Restart {
            flow_id,
            mode: m,
            wait,
        } => {
            let t = c.restart_flow(flow_id, &mode(m)).await?;
            deployed(c, flow_id, t, wait, fmt).await
        }
        FlowCmd::Stop { flow_id, wait } => {
            let t = c.stop_flow(flow_id).await?;
            deployed(c, flow_id, t, wait, fmt).await
        }
        FlowCmd::Graph { flow_id } => {
            let g = val(&c.get_flow_graph(flow_id).await?);
            match fmt {
                Format::Json => show(g),
                Format::Table => {
                    println!("{}", output::graph(&g));
                    Ok(())
                }
            }
        }
        FlowCmd::Status { flow_id, watch } => {
            if watch {
                wait_deploy(c, flow_id, None, false).await?;
            }
            let f = c.get_dataflow(flow_id).await?;
            let d = c.get_latest_deploy_data(flow_id).await?;
            show(
                json!({"flow_id": flow_id, "status": f.status, "deploy": d.as_ref().map(|d| d.id),
                "action": d.as_ref().map(|d| d.action.clone()), "deploy_status": d.as_ref().map(|d| d.status.clone()),
                "progress": d.as_ref().map(|d| d.progress)}),
            )
        }
        FlowCmd::List { project } => show(val(&c.list_flows(project).await?)),
        FlowCmd::Export { flow_id } => {
            // Always JSON: it is a file to import.
            println!(
                "{}",
                serde_json::to_string_pretty(&c.export_flow(flow_id).await?).unwrap_or_default()
            );
            Ok(())
        }
        FlowCmd::Delete { flow_id } => show(val(&c.delete_flow(flow_id).await?)),
    }
}

//! The `bkdata` command line over `bkdata-api`: raw data, cleans, storages, tasks, flows,
//! data pipeline tasks and queries, against this platform or a real BKData.
//!
//! Exit codes scripts can rely on: 0 done; 1 the API refused (`result: false`); 2 bad usage;
//! 3 authentication failed; 4 server unreachable; 5 timeout; 6 an HTTP error (5xx, gateway);
//! 7 an unreadable answer; 8 settings missing (profile); 9 a local file problem; 10 a watched
//! flow or task ended in failure.
mod config;
mod output;

use bkdata_api::client::{BkDataClient, Error};
use bkdata_api::databus::{
    GrantRequest, ProjectRequest, RawDataRequest, TaskRequest, VerifyRequest,
};
use bkdata_api::dataflow::{CreateFlowRequest, DeployRequest, QueryRequest};
use clap::{CommandFactory, Parser, Subcommand};
use output::Format;
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "bkdata",
    version,
    about = "Drive a bkdata-rs server (or BKData) from the shell"
)]
struct Cli {
    /// The profile of the config file (`bkdata config` shows where it is).
    #[arg(long, global = true, env = "BKDATA_PROFILE", default_value = "default")]
    profile: String,
    /// How answers are printed.
    #[arg(long, short, global = true, value_enum, default_value = "table")]
    output: Format,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Raw data: register, ingest records, tail.
    #[command(subcommand)]
    Rawdata(RawCmd),
    /// Cleans: create from a file, verify a sample, list, get.
    #[command(subcommand)]
    Clean(CleanCmd),
    /// Data storages: bind a result table to a cluster, list them.
    #[command(subcommand)]
    Storage(StorageCmd),
    /// Storage clusters.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Tasks of a result table: its clean and shippers.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Result tables.
    #[command(subcommand)]
    Rt(RtCmd),
    /// Projects (owners of flows) and their grants.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Dataflows.
    #[command(subcommand)]
    Flow(FlowCmd),
    /// Data pipeline tasks (seed 002).
    #[command(subcommand)]
    Pipeline(PipelineCmd),
    /// Read-only SQL over result tables, printed as a table.
    Query {
        sql: String,
        #[arg(long)]
        prefer_storage: Option<String>,
    },
    /// Where the config file is and what the current profile resolves to (secret hidden).
    Config,
    /// Shell completions: `bkdata completions bash > /etc/bash_completion.d/bkdata`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum RawCmd {
    Create {
        #[arg(long)]
        biz: i64,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Ingest records, one a line, from a file or `-` (stdin), in batches.
    Ingest {
        raw_data_id: i64,
        #[arg(default_value = "-")]
        file: String,
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    Tail {
        raw_data_id: i64,
    },
}

#[derive(Subcommand)]
enum CleanCmd {
    /// POST a cleans/ body from a JSON file.
    Create {
        #[arg(long)]
        file: String,
    },
    /// Run a json_config on a sample and print each node's result.
    Verify {
        /// The json_config (a JSON file).
        #[arg(long)]
        conf: String,
        /// The sample record.
        #[arg(long)]
        msg: String,
    },
    List {
        #[arg(long)]
        raw_data_id: Option<i64>,
    },
    Get {
        processing_id: String,
    },
}

#[derive(Subcommand)]
enum StorageCmd {
    /// POST a data_storages/ body from a JSON file.
    Create {
        #[arg(long)]
        file: String,
    },
    List {
        #[arg(long)]
        raw_data_id: Option<i64>,
        #[arg(long)]
        biz: Option<i64>,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// POST a storekit clusters/ body from a JSON file.
    Create {
        #[arg(long)]
        file: String,
    },
}

#[derive(Subcommand)]
enum TaskCmd {
    Start {
        result_table_id: String,
        /// e.g. kafka,postgresql (all when absent).
        #[arg(long, value_delimiter = ',')]
        storages: Option<Vec<String>>,
    },
    Stop {
        result_table_id: String,
        #[arg(long, value_delimiter = ',')]
        storages: Option<Vec<String>>,
    },
    Status {
        result_table_id: String,
    },
}

#[derive(Subcommand)]
enum RtCmd {
    Get { result_table_id: String },
    Tail { result_table_id: String },
}

#[derive(Subcommand)]
enum ProjectCmd {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        biz: Option<i64>,
    },
    /// Grant a result table to a project.
    Grant {
        project_id: i64,
        #[arg(long)]
        rt: String,
        #[arg(long)]
        biz: i64,
    },
}

#[derive(Subcommand)]
enum FlowCmd {
    /// Create a flow from seed 004's `nodes` (a JSON list) or a whole create body.
    Create {
        #[arg(long)]
        file: String,
        #[arg(long)]
        project: Option<i64>,
        #[arg(long)]
        name: Option<String>,
    },
    Start {
        flow_id: i64,
        #[arg(long, default_value = "continue")]
        mode: String,
        /// Wait for the deploy to finish (exit 10 if it fails).
        #[arg(long)]
        wait: bool,
    },
    Stop {
        flow_id: i64,
        #[arg(long)]
        wait: bool,
    },
    Restart {
        flow_id: i64,
        #[arg(long, default_value = "continue")]
        mode: String,
        #[arg(long)]
        wait: bool,
    },
    /// The flow's nodes and links, drawn.
    Graph {
        flow_id: i64,
    },
    /// The latest deploy; `--watch` follows it until it ends.
    Status {
        flow_id: i64,
        #[arg(long)]
        watch: bool,
    },
    List {
        #[arg(long)]
        project: Option<i64>,
    },
    /// Print the flow as a create body (import it with `flow import`).
    Export {
        flow_id: i64,
    },
    /// Create a flow from an exported body.
    Import {
        #[arg(long)]
        file: String,
        #[arg(long)]
        project: Option<i64>,
        #[arg(long)]
        name: Option<String>,
    },
    Delete {
        flow_id: i64,
    },
}

#[derive(Subcommand)]
enum PipelineCmd {
    Create {
        #[arg(long)]
        table_list_file: String,
        #[arg(long)]
        business_context: String,
        #[arg(long)]
        db_name: Option<String>,
    },
    Execute {
        task_id: String,
        #[arg(long, default_value = "complete")]
        mode: String,
        #[arg(long)]
        step: Option<String>,
        #[arg(long)]
        force: bool,
    },
    /// Follow a task's steps until it ends (exit 10 if it fails).
    Watch {
        task_id: String,
    },
    Status {
        task_id: String,
    },
    Logs {
        task_id: String,
        #[arg(long)]
        follow: bool,
    },
    Files {
        task_id: String,
    },
    Download {
        task_id: String,
        file_name: String,
        #[arg(long, short = 'O')]
        out: Option<String>,
    },
    Archive {
        task_id: String,
    },
    /// Upload the task's table list (one schema.table a line; `-` reads stdin).
    Upload {
        task_id: String,
        file: String,
    },
    /// Search the training store (DDL, documents, question-SQL pairs) for the closest items.
    Search {
        query: String,
        /// ddl, documentation or sql.
        #[arg(long = "type")]
        data_type: Option<String>,
        #[arg(long, default_value_t = 5)]
        limit: u32,
    },
    /// The business databases a task may name (db_name).
    Databases,
}

/// A failure with its exit code and a one-line message that says what to do.
struct Fail(i32, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        match &e {
            Error::Api { code, message, errors, .. } => {
                let detail = errors
                    .as_ref()
                    .map(|e| format!(" {}", serde_json::to_string(e).unwrap_or_default()))
                    .unwrap_or_default();
                Fail(1, format!("refused ({code}): {message}{detail}"))
            }
            Error::Auth { message } => Fail(
                3,
                format!("authentication failed: {message}; check app_code/app_secret/username of the profile"),
            ),
            Error::Connect { .. } => Fail(4, format!("{e}; is the server running, and is the profile's url right?")),
            Error::Timeout { .. } => Fail(5, format!("{e}; raise BKDATA_TIMEOUT_S or try again")),
            Error::Http { status, .. } => Fail(6, format!("server error: HTTP {status}; see the server's log")),
            Error::Decode { .. } => Fail(7, format!("{e}; is the url pointing at a bkdata/BKData API?")),
            Error::Config(m) => Fail(8, m.clone()),
        }
    }
}

type Out = Result<(), Fail>;

/// A text file, or `-` for stdin.
fn read_text(path: &str) -> Result<String, Fail> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail(9, format!("cannot read stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| Fail(9, format!("cannot read {path}: {e}")))
}

/// A JSON file (or `-` for stdin) read as `T`: a request body checked before it is sent.
fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, Fail> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| Fail(9, format!("{path} is not JSON: {e}")))
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bkdata: {e}");
            return 1;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => 0,
        Err(Fail(code, msg)) => {
            eprintln!("bkdata: {msg}");
            code
        }
    }
}

async fn run(cli: Cli) -> Out {
    let fmt = cli.output;
    match cli.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "bkdata", &mut std::io::stdout());
            return Ok(());
        }
        Cmd::Config => {
            let p = config::load(&cli.profile).map_err(|m| Fail(8, m))?;
            let path = config::config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            output::print(
                fmt,
                &json!({"config_file": path, "profile": cli.profile, "url": p.url, "api_gateway": p.api_gateway,
                    "app_code": p.app_code, "app_secret": p.app_secret.map(|_| "(set)"), "username": p.username,
                    "auth": if p.data_token.is_some() { "token" } else { "user" }}),
            );
            return Ok(());
        }
        _ => {}
    }
    let profile = config::load(&cli.profile).map_err(|m| Fail(8, m))?;
    let c = profile.client().map_err(|m| Fail(8, m))?;
    let show = |v: Value| {
        output::print(fmt, &v);
        Ok(())
    };
    match cli.command {
        Cmd::Rawdata(cmd) => match cmd {
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
            } => ingest(&c, raw_data_id, &file, batch, fmt).await,
            RawCmd::Tail { raw_data_id } => show(val(&c.get_raw_data_tail(raw_data_id).await?)),
        },
        Cmd::Clean(cmd) => match cmd {
            CleanCmd::Create { file } => {
                show(val(&c.databus_cleans_post(&read_json(&file)?).await?))
            }
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
                if let (Some(schema), Some(result)) =
                    (v["schema"].as_array(), v["result"].as_array())
                {
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
        },
        Cmd::Storage(cmd) => match cmd {
            StorageCmd::Create { file } => show(val(&c
                .databus_data_storages_post(&read_json(&file)?)
                .await?)),
            StorageCmd::List { raw_data_id, biz } => show(val(&c
                .get_config_db_list(json!({"raw_data_id": raw_data_id, "bk_biz_id": biz}))
                .await?)),
        },
        Cmd::Cluster(ClusterCmd::Create { file }) => {
            show(val(&c.create_storage_cluster(&read_json(&file)?).await?))
        }
        Cmd::Task(cmd) => match cmd {
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
            TaskCmd::Status { result_table_id } => {
                show(val(&c.get_tasks(&result_table_id).await?))
            }
        },
        Cmd::Rt(cmd) => match cmd {
            RtCmd::Get { result_table_id } => {
                show(val(&c.get_result_table(&result_table_id).await?))
            }
            RtCmd::Tail { result_table_id } => {
                show(val(&c.get_result_table_tail(&result_table_id).await?))
            }
        },
        Cmd::Project(cmd) => match cmd {
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
        },
        Cmd::Flow(cmd) => flow(&c, cmd, fmt).await,
        Cmd::Pipeline(cmd) => pipeline(&c, cmd, fmt).await,
        Cmd::Query {
            sql,
            prefer_storage,
        } => {
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
        Cmd::Config | Cmd::Completions { .. } => Ok(()),
    }
}

async fn ingest(c: &BkDataClient, raw_id: i64, file: &str, batch: usize, fmt: Format) -> Out {
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

async fn flow(c: &BkDataClient, cmd: FlowCmd, fmt: Format) -> Out {
    let show = |v: Value| {
        output::print(fmt, &v);
        Ok(())
    };
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

async fn pipeline(c: &BkDataClient, cmd: PipelineCmd, fmt: Format) -> Out {
    use bkdata_api::pipeline::{ArchiveRequest, CreateTaskRequest, ExecuteRequest};
    let show = |v: Value| {
        output::print(fmt, &v);
        Ok(())
    };
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

/// A typed answer as JSON, to print like the others.
fn val<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or_default()
}

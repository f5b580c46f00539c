//! The `bkdata` command line over `bkdata-api`: raw data, cleans, storages, tasks, flows,
//! data pipeline tasks and queries, against this platform or a real BKData.
//!
//! Exit codes scripts can rely on: 0 done; 1 the API refused (`result: false`); 2 bad usage;
//! 3 authentication failed; 4 server unreachable; 5 timeout; 6 an HTTP error (5xx, gateway);
//! 7 an unreadable answer; 8 settings missing (profile); 9 a local file problem; 10 a watched
//! flow or task ended in failure.
mod config;
mod databus;
mod flows;
mod output;
mod pipeline;

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
    match cli.command {
        Cmd::Rawdata(cmd) => databus::rawdata(&c, cmd, fmt).await,
        Cmd::Clean(cmd) => databus::clean(&c, cmd, fmt).await,
        Cmd::Storage(cmd) => databus::storage(&c, cmd, fmt).await,
        Cmd::Cluster(cmd) => databus::cluster(&c, cmd, fmt).await,
        Cmd::Task(cmd) => databus::task(&c, cmd, fmt).await,
        Cmd::Rt(cmd) => databus::rt(&c, cmd, fmt).await,
        Cmd::Project(cmd) => databus::project(&c, cmd, fmt).await,
        Cmd::Flow(cmd) => flows::flow(&c, cmd, fmt).await,
        Cmd::Pipeline(cmd) => pipeline::pipeline(&c, cmd, fmt).await,
        Cmd::Query {
            sql,
            prefer_storage,
        } => databus::query(&c, sql, prefer_storage, fmt).await,
        Cmd::Config | Cmd::Completions { .. } => Ok(()),
    }
}

/// Print an answer; done.
fn printed(fmt: Format, v: Value) -> Out {
    output::print(fmt, &v);
    Ok(())
}

/// A typed answer as JSON, to print like the others.
fn val<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or_default()
}

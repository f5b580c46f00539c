use anyhow::Context;
use bkdata_models::db;
use clap::{Parser, Subcommand};

/// The bkdata HTTP API server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Create (or re-create) the demo business database of seed 002: the highway
    /// service-area schema with data, or a generated schema of `--tables` tables.
    DemoDb {
        /// The business database (default: BKDATA_APP_DB_URL, else highway_db on the local server).
        #[arg(long)]
        url: Option<String>,
        /// Days of daily figures in the highway schema.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Instead: a generated schema `gen` of this many tables (for the benchmark).
        #[arg(long)]
        tables: Option<usize>,
        /// Rows a generated table.
        #[arg(long, default_value_t = 200)]
        rows: usize,
        /// Write the table list (one schema.table a line) to this file.
        #[arg(long)]
        table_list: Option<std::path::PathBuf>,
    },
    /// Manage API apps.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app and print its secret (shown once; only a hash is stored).
    Create {
        bk_app_code: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Issue a new secret if the app exists.
        #[arg(long)]
        reset_secret: bool,
    },
}

// Records are many small allocations; mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    bkdata_models::alloc::keep_freed_memory();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let config = bkdata_server::Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            if db::create_database_if_missing(&config.database_url)? {
                println!("created database {}", db::redact_url(&config.database_url));
            }
            let mut conn = db::connect(&config.database_url)?;
            let applied = db::run_migrations(&mut conn)?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied migration {m}");
            }
            Ok(())
        }
        Command::DemoDb {
            url,
            days,
            tables,
            rows,
            table_list,
        } => {
            let url = url
                .or_else(|| {
                    std::env::var("BKDATA_APP_DB_URL")
                        .ok()
                        .filter(|u| !u.is_empty())
                })
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/highway_db".into());
            let shown = bkdata_training::registry::redacted(&url);
            bkdata_training::demo::ensure_database(&url)?;
            let mut c = bkdata_training::catalog::connect(&url, &shown)?;
            let names = match tables {
                Some(n) => bkdata_training::demo::create_generated(&mut c, n, rows)?,
                None => bkdata_training::demo::create_highway(&mut c, days)?,
            };
            println!("{shown}: {} tables", names.len());
            if let Some(path) = table_list {
                let body: String = names.iter().map(|n| format!("{n}\n")).collect();
                std::fs::write(&path, format!("# tables of {shown}\n{body}"))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("table list written to {}", path.display());
            }
            Ok(())
        }
        Command::App {
            command:
                AppCommand::Create {
                    bk_app_code,
                    description,
                    reset_secret,
                },
        } => {
            db::ensure_migrated(&config.database_url)?;
            let mut conn = db::connect(&config.database_url)?;
            let secret = bkdata_models::auth::create_app(
                &mut conn,
                &bk_app_code,
                &description,
                reset_secret,
            )?;
            println!("bk_app_code={bk_app_code}");
            println!("bk_app_secret={secret}");
            eprintln!("keep the secret now: it is stored hashed and cannot be shown again");
            Ok(())
        }
        Command::Serve => serve(config),
    }
}

fn serve(config: bkdata_server::Config) -> anyhow::Result<()> {
    db::ensure_migrated(&config.database_url)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let pool = db::pool_with(&config.database_url, config.pool_size, config.pool_size)?;
    bkdata_databus::clusters::ensure_default_postgres(
        &mut db::connect(&config.database_url)?,
        &config.database_url,
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        log::info!(
            "bkdata-server listening on http://{} (data dir {}, database {})",
            listener.local_addr()?,
            config.data_dir.display(),
            db::redact_url(&config.database_url)
        );
        let bus = bkdata_bus::AnyBus::connect(&config.nats_url, &config.bus_prefix)
            .await?
            .with_max_age(bkdata_bus::max_age_from_env()?)
            .with_replicas(config.bus_replicas);
        let state = bkdata_server::AppState::new(config, pool, bus);
        bkdata_server::serve(state, listener, shutdown_signal()).await?;
        log::info!("bkdata-server stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

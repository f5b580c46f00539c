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
    bkdata_databus::storage::ensure_default_postgres(
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
            .with_max_age(bkdata_bus::max_age_from_env()?);
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

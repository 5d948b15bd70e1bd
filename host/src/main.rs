//! `zerodb-edge`: the ZeroDB Edge host.
//!
//! Serves the v1 HTTP API with the edge component running in wasmtime, and
//! implements that component's `origin` import natively over PostgreSQL +
//! pgvector. See `docs/architecture.md`.
//!
//! This file parses the command line and dispatches; `app` wires `serve`.

mod app;
mod coherence;
mod config;
mod embed;
mod events;
mod files;
mod health;
mod histogram;
mod metrics;
mod origin;

mod runtime;
mod server;
mod store;

use clap::{Parser, Subcommand};
use config::{HealthArgs, ServeArgs};
use std::process::ExitCode;
use store::Store;

#[derive(Parser)]
#[command(
    name = "zerodb-edge",
    version,
    about = "ZeroDB Edge: a WebAssembly edge query proxy for pgvector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "ZERODB_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Apply the schema migrations, or check the live schema for drift.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Exit non-zero, listing the differences, when the live schema is not the expected one.
        #[arg(long, conflicts_with = "print_schema")]
        check: bool,
        /// Print the live schema in the form `--check` compares.
        #[arg(long)]
        print_schema: bool,
    },
    /// Convert a legacy embedding column (real[] / double precision[]) to a pgvector column.
    ImportLegacy {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The table, as `table` or `schema.table`.
        #[arg(long)]
        table: String,
        /// The embedding column.
        #[arg(long)]
        column: String,
    },
    /// Probe every configured service once and print the registry and routing
    /// table; exits 1 when a required service is down.
    Health(Box<HealthArgs>),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// List every project, one per line: its name and its UUID (the
    /// `{project_id}` of ZeroDB's routes).
    Projects {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for a project (created when new) and print it; the
    /// project's name and UUID go to standard error.
    Create {
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        project: String,
    },
    /// Revoke a key.
    Revoke {
        #[command(flatten)]
        db: DatabaseArgs,
        key: String,
    },
}

fn store(db: &DatabaseArgs) -> anyhow::Result<Store> {
    Store::new(&db.database_url, 4, config::POOL_WAIT)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => app::serve(args.resolve()?, shutdown_signal()).await,
        Command::Migrate {
            db,
            check,
            print_schema,
        } => {
            let store = store(&db)?;
            if print_schema {
                print!("{}", store.schema_snapshot().await?);
                return Ok(ExitCode::SUCCESS);
            }
            if !check {
                let applied = store.migrate().await?;
                println!("applied {applied} migration(s); schema is current");
                return Ok(ExitCode::SUCCESS);
            }
            let drift = store.schema_drift().await?;
            if drift.is_empty() {
                println!("schema matches the expected schema");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("schema drift ({} difference(s); - expected, + live):", drift.len());
                for line in drift {
                    println!("  {line}");
                }
                Ok(ExitCode::from(1))
            }
        }
        Command::ImportLegacy { db, table, column } => {
            let report = store(&db)?.convert_legacy(&table, &column).await?;
            println!(
                "converted {} of {} rows of {table}.{column} to vector({}); {} rows after",
                report.converted, report.rows_before, report.dims, report.rows_after
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Health(args) => app::health(*args).await,
        Command::Projects { db } => {
            let store = store(&db)?;
            store.migrate().await?;
            for project in store.list_projects().await? {
                println!("{} {}", project.name, project.uuid);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => match command {
            KeysCommand::Create { db, project } => {
                let store = store(&db)?;
                store.migrate().await?;
                let (key, created) = store.create_key(&project).await?;
                println!("{key}");
                eprintln!("project {} {}", created.name, created.uuid);
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::Revoke { db, key } => {
                if store(&db)?.revoke_key(&key).await? {
                    println!("revoked");
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("no live key matches");
                    Ok(ExitCode::from(1))
                }
            }
        },
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Every allocation of the host (hyper's buffers, wasmtime's per-call state)
/// goes through mimalloc, whose per-thread heaps suit a multi-threaded
/// server better than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    embed::one_core_per_pass();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZERODB_LOG")
                .unwrap_or_else(|_| "info,wasmtime=warn,tokio_postgres=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

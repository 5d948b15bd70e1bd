//! `zerodb-edge`: the ZeroDB Edge host.
//!
//! Serves the v1 HTTP API with the edge component running in wasmtime, and
//! implements that component's `origin` import natively over PostgreSQL +
//! pgvector. See `docs/architecture.md`.

mod coherence;
mod config;
mod events;
mod files;
mod health;
mod metrics;
mod origin;
mod origin_http;
mod runtime;
mod server;
mod store;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{HealthArgs, ServeArgs};
use health::{probe, Registry, ServiceId};
use std::process::ExitCode;
use std::sync::Arc;
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
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for a project (created when new) and print it.
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
    Store::new(&db.database_url, 4, store::POOL_WAIT_TIMEOUT)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            let services = &config.services;
            let registry = Arc::new(Registry::for_config(
                services,
                config::database_endpoint(&config.database_url),
            ));
            let coherence = Arc::new(coherence::Coherence::default());
            let mut store = Store::new(&config.database_url, config.max_connections, config.pool_wait)?
                .with_coherence(coherence.clone())
                .with_memory_dims(config.memory_dims)
                .with_auth_cache(config.auth_cache)
                .with_health(registry.service(ServiceId::Postgres).clone());
            let events = (!services.brokers.is_empty()).then(|| Arc::new(tokio::sync::Notify::new()));
            if let Some(wake) = &events {
                store = store.with_events(wake.clone());
            }
            if config.migrate {
                store.migrate().await.context("applying migrations")?;
            }
            coherence::spawn_feed(coherence.clone(), config.database_url.parse()?);
            for (id, probe) in probe::configured(services, &store)? {
                probe::spawn(registry.clone(), id, probe);
            }
            let publisher = events.map(|wake| {
                events::Publisher {
                    store: store.clone(),
                    registry: registry.clone(),
                    brokers: services.brokers.clone(),
                    topic: services.topic.clone(),
                    wake,
                    timeout: services.probe.timeout,
                }
                .spawn()
            });
            let files = files::Files::new(
                services.s3.as_ref(),
                registry.service(ServiceId::Minio).clone(),
                services.probe.timeout,
            )?;
            let backends = origin::Backends {
                store,
                registry: registry.clone(),
                files,
                coherence,
            };
            let origin_api = config
                .origin_secret
                .as_deref()
                .map(|secret| origin_http::OriginApi::new(backends.clone(), secret));
            let runtime = runtime::Runtime::new(&config.component, backends, config.limits.clone())?;
            let front = server::Front {
                shards: Arc::new(runtime).shards(config.shards),
                registry,
                origin_api,
                max_response_bytes: config.max_response_bytes,
            };
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            // Tests and scripts read the address from this line.
            println!("zerodb-edge listening on http://{}", listener.local_addr()?);
            server::serve(listener, front, shutdown_signal()).await?;
            if let Some(publisher) = publisher {
                publisher.flush(std::time::Duration::from_secs(10)).await;
            }
            runtime::SHUTTING_DOWN.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Health(args) => {
            let (database_url, services, required) = args.resolve()?;
            let registry = Registry::for_config(&services, config::database_endpoint(&database_url));
            let store = Store::new(&database_url, 1, store::POOL_WAIT_TIMEOUT)?;
            probe::check_once(&registry, probe::configured(&services, &store)?).await;
            print!("{}", registry.table());
            let down: Vec<&str> = required
                .iter()
                .filter(|id| !registry.service(**id).usable())
                .map(|id| id.name())
                .collect();
            if down.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("required service(s) down: {}", down.join(", "));
                Ok(ExitCode::from(1))
            }
        }
        Command::Keys { command } => match command {
            KeysCommand::Create { db, project } => {
                let store = store(&db)?;
                store.migrate().await?;
                println!("{}", store.create_key(&project).await?);
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

fn main() -> ExitCode {
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

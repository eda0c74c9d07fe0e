//! The `lienthong` command: serve the gateway, check a config, make credentials.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lienthong::config::Config;
use lienthong::gateway::{ConfigSource, Gateway};
use lienthong::keys::CredentialKind;
use lienthong::server::{ConnSettings, RunningServer};

/// lienthong: the integration gateway of the province's online public services.
#[derive(Parser)]
#[command(name = "lienthong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The TOML config file.
        #[arg(long, required_unless_present = "demo", conflicts_with = "demo")]
        config: Option<PathBuf>,
        /// Run with the embedded demo config, demo credentials and in-process mock upstreams.
        #[arg(long)]
        demo: bool,
        /// Port of the demo listener on 127.0.0.1.
        #[arg(long, default_value_t = 8080, requires = "demo")]
        port: u16,
        /// Tokio worker threads (default: one per CPU core).
        #[arg(long, env = "LIENTHONG_WORKER_THREADS")]
        worker_threads: Option<usize>,
    },
    /// Validate a config file: exit 0 when valid, 2 with the key and the reason when not.
    CheckConfig {
        /// The TOML config file.
        file: PathBuf,
    },
    /// Make credentials.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new credential once, and the hash line to paste into the client's config.
    New {
        /// The client it is for.
        #[arg(long)]
        client: String,
        /// `api-key` (default) or `client-secret` (OAuth2).
        #[arg(long, value_enum, default_value = "api-key")]
        kind: CredentialKind,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Keys {
            command: KeysCommand::New { client, kind },
        } => {
            let credential = lienthong::keys::generate(kind);
            println!("{credential}");
            eprintln!(
                "Keep the line above secret: it is shown only now. Paste this into the config:"
            );
            eprintln!(
                "[[clients]]\nid = \"{client}\"\n{}",
                lienthong::keys::config_line(kind, &credential)
            );
            ExitCode::SUCCESS
        }
        Command::Serve {
            config,
            demo,
            port,
            worker_threads,
        } => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            rt.enable_all();
            if let Some(n) = worker_threads.filter(|n| *n > 0) {
                rt.worker_threads(n);
            }
            let rt = match rt.build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = match (config, demo) {
                (Some(path), _) => match Config::load(&path) {
                    Ok(c) => rt.block_on(serve(c, ConfigSource::File(path), None)),
                    Err(e) => {
                        eprintln!("error: invalid config {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
                (None, _) => rt.block_on(serve_demo(port)),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    // Build everything a start would build (secrets, CA bundles, TLS keys) without serving.
    if let Err(e) = lienthong::gateway::Runtime::build(config.clone(), None, &[0u8; 32]) {
        eprintln!("{}: {e}", file.display());
        return ExitCode::from(2);
    }
    for (i, l) in config.listeners.iter().enumerate() {
        if let Some(tls) = &l.tls
            && let Err(e) = lienthong::tls::server_config(tls)
        {
            eprintln!("{}: `listeners[{i}].tls`: {e}", file.display());
            return ExitCode::from(2);
        }
    }
    println!(
        "{}: valid ({} listeners, {} clients, {} services)",
        file.display(),
        config.listeners.len(),
        config.clients.len(),
        config.services.len()
    );
    ExitCode::SUCCESS
}

async fn serve_demo(port: u16) -> anyhow::Result<()> {
    let catalogue = lienthong_mocks::spawn(
        lienthong_mocks::catalogue::router(),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .context("starting the demo catalogue mock")?;
    let config = lienthong::demo::config(port, catalogue.addr);
    let addr = config.listeners[0].addr;
    print!("{}", lienthong::demo::banner(addr));
    let source = ConfigSource::Fixed(Box::new(config.clone()));
    serve(config, source, Some(catalogue)).await
}

async fn serve(
    config: Config,
    source: ConfigSource,
    _keep_alive: Option<lienthong_mocks::RunningMock>,
) -> anyhow::Result<()> {
    let _log_guard = lienthong::telemetry::init_logging(&config.telemetry);
    let store = lienthong::store::open(&config.store.url)
        .await
        .context("opening the store")?;
    let gw: Arc<Gateway> = Gateway::new(config.clone(), source, store)
        .await
        .context("starting the gateway")?;
    let listeners = lienthong::server::bind_all(&config.listeners)
        .await
        .map_err(anyhow::Error::msg)?;
    for l in &listeners {
        tracing::info!(addr = %l.local_addr, "listening");
    }
    let server = RunningServer::start(
        listeners,
        lienthong::router(gw.clone()),
        ConnSettings::from_config(&config),
    );

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                let request_id = uuid::Uuid::now_v7().to_string();
                let _ = lienthong::admin::reload_and_record(&gw, "signal:SIGHUP", &request_id).await;
            }
        }
    }
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

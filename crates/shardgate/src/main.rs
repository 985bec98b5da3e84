#![forbid(unsafe_code)]
//! `shardgate`: run the gateway, check a config, print the version.
//!
//! Exit codes: 0 success (including a graceful stop), 1 the config is invalid or
//! the server could not start, 2 bad command-line usage (clap's own).

mod logging;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

const DEFAULT_CONFIG: &str = "config/shardgate.toml";

#[derive(Parser)]
#[command(name = "shardgate", version, about = "A thread-per-core HTTP gateway")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file (when no subcommand is given, `run` is implied).
    #[arg(long, short, global = true, env = "SHARDGATE_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Log filter, e.g. `info`, `debug`, `shardgate_server=debug`.
    #[arg(long, global = true, env = "SHARDGATE_LOG", default_value = "info")]
    log: String,
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "SHARDGATE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate the config and exit: 0 when valid, 1 with `FILE:LINE:COL: key: problem` lines when not.
    /// Host names in `servers` are resolved as `run` would (with `[resolver]`).
    Check {
        /// Check syntax and files only, without resolving host names (for a
        /// machine that cannot reach the DNS the gateway will use).
        #[arg(long)]
        no_resolve: bool,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Version => {
            println!("shardgate {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check { no_resolve } => match shardgate_config::load(&cli.config) {
            Ok(config) => {
                let unresolved = if no_resolve {
                    Vec::new()
                } else {
                    shardgate_server::unresolved_host_names(&config)
                };
                if !unresolved.is_empty() {
                    eprintln!("{}", unresolved.join("\n"));
                    return ExitCode::from(1);
                }
                println!("{}: ok", cli.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Run => {
            // Held until main returns: dropping it flushes the queued lines.
            let _logs = logging::init(&cli.log, cli.log_format);
            match run(&cli.config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("shardgate: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn run(path: &Path) -> anyhow::Result<()> {
    let config = shardgate_config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Register before starting shards, so a signal during start-up is not lost.
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]).context("installing signal handlers")?;
    let mut server = shardgate_server::Server::start(config).context("starting the server")?;
    logging::count_tls_library_events();
    for (name, addr) in server.listeners() {
        tracing::info!(listener = %name, %addr, "listening");
    }
    if let Some(a) = server.admin_addr() {
        tracing::info!(%a, "admin listening");
    }
    for sig in signals.forever() {
        if sig == SIGHUP {
            reload(&server, path);
            continue;
        }
        if sig == SIGUSR1 {
            server.reopen_access_log();
            continue;
        }
        tracing::info!(signal = sig, "graceful stop");
        server.shutdown();
        break;
    }
    server.join();
    tracing::info!("stopped");
    Ok(())
}

/// A bad config is logged with its location and the running config stays; the
/// server counts both outcomes.
fn reload(server: &shardgate_server::Server, path: &Path) {
    match server.reload_file(path) {
        Ok(generation) => tracing::info!(generation, "config reloaded"),
        Err(e) => tracing::error!("reload failed, keeping the running config:\n{e}"),
    }
}

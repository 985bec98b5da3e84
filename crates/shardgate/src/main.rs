#![forbid(unsafe_code)]
//! `shardgate`: run the gateway, check a config, reload or upgrade the
//! running one, probe its readiness, print the version.
//!
//! Exit codes: 0 success (including a graceful stop), 1 the config is invalid or
//! the server could not start (`health`: not ready or not reachable;
//! `reload`: refused), 2 bad command-line usage (clap's own; `reload`: the
//! admin listener cannot be reached).

mod health;
mod logging;
mod reload;
mod upgrade;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shardgate_server::{ConfigFile, Server, Successor};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
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
    /// Where application logs go: stderr, or stdout (containers; the image
    /// sets SHARDGATE_LOG_TARGET=stdout). An access log with
    /// `path = "stdout"` shares stdout line by line.
    #[arg(
        long,
        global = true,
        env = "SHARDGATE_LOG_TARGET",
        value_enum,
        default_value = "stderr"
    )]
    log_target: logging::LogTarget,
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
    /// Reload the running gateway's config: `POST /reload` to the admin
    /// listener (`[admin] address`, with the `token_file` token), printing
    /// the new generation (exit 0) or every error (exit 1); exit 2 when the
    /// admin listener does not answer within 10 s. Without `[admin]`:
    /// `SIGHUP` to the PID in `server.pid_file` (the outcome is in its logs).
    Reload {
        /// `http://HOST:PORT[/PATH]` of the admin listener instead of the
        /// config's `[admin] address` (path `/reload`).
        #[arg(long)]
        url: Option<String>,
    },
    /// Zero-downtime binary upgrade of the running gateway: signals it
    /// (`SIGUSR2`), waits for the new process to take over or refuse, prints
    /// the outcome (the new process's errors when refused); 0 when it took over.
    Upgrade {
        /// The running process's PID file (default: `server.pid_file` of the config).
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Longest wait for the outcome, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Probe a running gateway's admin `/ready` (the container HEALTHCHECK):
    /// exit 0 when it answers 200, 1 otherwise. Gives up after 2 s.
    Health {
        /// `http://HOST:PORT[/PATH]` to probe instead of the config's
        /// `[admin] address` (path `/ready`).
        #[arg(long)]
        url: Option<String>,
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
        Command::Upgrade { pid_file, timeout } => {
            let pid_file = match pid_file {
                Some(p) => p,
                None => match shardgate_config::load(&cli.config) {
                    Ok(c) => match c.server.pid_file {
                        Some(p) => p,
                        None => {
                            eprintln!(
                                "{}: server.pid_file is not set: pass --pid-file",
                                cli.config.display()
                            );
                            return ExitCode::from(1);
                        }
                    },
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(1);
                    }
                },
            };
            upgrade::command(&pid_file, Duration::from_secs(timeout))
        }
        Command::Reload { url } => reload::command(url.as_deref(), &cli.config),
        Command::Health { url } => match health::probe(url.as_deref(), &cli.config) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shardgate health: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Run => {
            // Held until main returns: dropping it flushes the queued lines.
            let _logs = logging::init(&cli.log, cli.log_format, cli.log_target);
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
    // Before anything can replace the file at our path.
    let binary = upgrade::Binary::capture();
    // Started by an upgrade: the old process waits for our verdict.
    let successor = Successor::from_env().transpose()?;
    let fail = |e: String| {
        if let Some(s) = &successor {
            s.fail(&e);
        }
        anyhow::anyhow!("{e}")
    };
    // Kept with its hash and load time for the admin API's `/config`.
    let (config, file) = ConfigFile::load(path).map_err(|e| fail(e.to_string()))?;
    let pid_file = config.server.pid_file.clone();
    // Register before starting shards, so a signal during start-up is not lost.
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
        .context("installing signal handlers")?;
    let inherited = match &successor {
        Some(s) => Some(s.receive().map_err(|e| fail(e.to_string()))?),
        None => None,
    };
    let mut server = Server::start_with(config, inherited)
        .map_err(|e| fail(format!("starting the server: {e}")))?;
    server.set_config_file(file);
    // A stop started elsewhere (the admin API's POST /drain) closes the
    // signal iterator; the loop below then stops as for SIGTERM.
    let handle = signals.handle();
    server.on_stop(move || handle.close());
    upgrade::write_pid(pid_file.as_deref());
    if let Some(s) = successor {
        server
            .confirm_ready(s)
            .context("reporting ready to the old process")?;
    }
    logging::count_tls_library_events();
    for (name, addr) in server.listeners() {
        tracing::info!(listener = %name, %addr, "listening");
    }
    if let Some(a) = server.admin_addr() {
        tracing::info!(%a, "admin listening");
    }
    let mut attempts = 0u32;
    'serve: loop {
        let pending: Vec<i32> = signals.wait().collect();
        if signals.is_closed() {
            break 'serve;
        }
        for sig in pending {
            match sig {
                SIGHUP => reload(&server),
                SIGUSR1 => server.reopen_access_log(),
                SIGUSR2 => {
                    attempts = attempts.wrapping_add(1);
                    if upgrade::on_signal(&server, &binary, pid_file.as_deref(), attempts) {
                        upgrade::linger(&server, &mut signals);
                        tracing::info!("handed over: stopping");
                        break 'serve;
                    }
                }
                _ => {
                    tracing::info!(signal = sig, "graceful stop");
                    break 'serve;
                }
            }
        }
    }
    server.shutdown();
    server.join();
    if !server.retired() {
        upgrade::remove_pid(pid_file.as_deref());
    }
    tracing::info!("stopped");
    Ok(())
}

/// A bad config is logged with its location and the running config stays; the
/// server counts both outcomes. The same path as the admin API's POST /reload.
fn reload(server: &Server) {
    match server.reload_running_file() {
        Ok(generation) => tracing::info!(generation, "config reloaded"),
        Err(e) => tracing::error!("reload failed, keeping the running config:\n{e}"),
    }
}

//! `shroud serve --config FILE`: runs the gateway until SIGTERM or ctrl-c
//! (draining in-flight requests), reloading the config on SIGHUP.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Args;
use shroud_gateway::{Config, Gateway, Hooks};

/// Arguments of `shroud serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The gateway config (TOML; see docs/config.md and examples/shroud.toml).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `shroud_gateway=debug`.
    #[arg(long, env = "SHROUD_LOG", default_value = "info")]
    pub log: String,
}

/// Runs `shroud serve`.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .with_context(|| format!("invalid --log filter `{}`", args.log))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let config =
        Config::load(&args.config).with_context(|| format!("loading {}", args.config.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, args.config))
}

async fn serve(config: Config, path: PathBuf) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};

    let hooks = Hooks::standalone(&config);
    tracing::info!(
        engine = hooks.engine.name(),
        masker = hooks.masker.name(),
        "decision hooks"
    );
    if hooks.masker.name() == "none" {
        tracing::warn!(
            "no masking engine in this build: responses decided above `none` are withheld (fail closed)"
        );
    }
    let tls = config.listen.tls_cert.is_some();
    let gateway = Gateway::start(config, hooks)
        .await
        .context("starting the gateway")?;
    let scheme = if tls { "https" } else { "http" };
    println!("shroud: gateway on {scheme}://{}", gateway.data_addr());
    if let Some(m) = gateway.management_addr() {
        println!("shroud: management API on http://{m}");
    }
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                match Config::load(&path) {
                    Ok(cfg) => match gateway.reload(cfg) {
                        Ok(()) => tracing::info!("reloaded {}", path.display()),
                        Err(e) => tracing::error!("reload refused, keeping the running config: {e}"),
                    },
                    Err(e) => tracing::error!("reload refused, keeping the running config: {e}"),
                }
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("shutting down: draining connections");
    gateway.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

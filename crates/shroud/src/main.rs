//! `shroud`: the command-line entry point of the Shroud data gateway.
//!
//! Each subcommand lives in its own module under [`cmd`] and owns its argument
//! struct, so the concerns stay as separate as the library crates behind them.
//! This file only parses the command line and turns errors into exit codes:
//! `0` on success, `2` on bad input or any other failure (with a one-line
//! message on stderr), as the CLI contract in README.md promises.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Shroud: a risk-adaptive data gateway.
#[derive(Debug, Parser)]
#[command(name = "shroud", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mask a JSON or NDJSON document at a level of the masking ladder.
    Mask(cmd::mask::MaskArgs),
    /// Reverse tokenized and encrypted values, given the vault and the key.
    Unmask(cmd::mask::UnmaskArgs),
    /// Measure the behavioral-biometrics detectors on public data sets.
    Eval(cmd::eval::EvalArgs),
    /// Run the gateway (reverse proxy + management API) from a config file.
    Serve(cmd::serve::ServeArgs),
    /// Replay an NDJSON access log through the risk engine, one decision per line.
    Replay(cmd::replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mask(args) => cmd::mask::run_mask(args),
        Command::Unmask(args) => cmd::mask::run_unmask(args),
        Command::Eval(args) => cmd::eval::run_eval(args),
        Command::Serve(args) => cmd::serve::run_serve(args),
        Command::Replay(args) => cmd::replay::run_replay(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: `{:#}` joins the anyhow context chain with ": ".
            eprintln!("shroud: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

//! One module per subcommand; each exposes its clap `Args` struct(s) and a
//! `run_*` function returning `anyhow::Result<ExitCode>`.

pub mod eval;
pub mod mask;
pub mod replay;
pub mod serve;

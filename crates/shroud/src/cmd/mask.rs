//! `shroud mask` and `shroud unmask`.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `shroud mask`.
#[derive(Debug, Args)]
pub struct MaskArgs {}

/// Arguments of `shroud unmask`.
#[derive(Debug, Args)]
pub struct UnmaskArgs {}

/// Runs `shroud mask`.
pub fn run_mask(_args: MaskArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`shroud mask` is not built yet")
}

/// Runs `shroud unmask`.
pub fn run_unmask(_args: UnmaskArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`shroud unmask` is not built yet")
}

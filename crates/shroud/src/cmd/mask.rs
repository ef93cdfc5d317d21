//! `shroud mask` and `shroud unmask`: the masking engine on files or stdin.
//!
//! Keys are looked up in this order: `--key-file`, the policy's `[keys] file`, then the
//! environment variable named by `--key-env` (default `SHROUD_MASK_KEYS`) or the policy's
//! `[keys] env`. Never from the document.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use shroud_mask::{KeyRing, Level, MaskContext, Masker, Policy, RedbVault, TokenVault};

/// Arguments of `shroud mask`.
#[derive(Debug, Args)]
pub struct MaskArgs {
    /// Masking level: none, redact, substitute, tokenize, encrypt or block.
    #[arg(long, short)]
    level: Level,
    /// Policy file (TOML); without it, the built-in policy with every detector on.
    #[arg(long, short)]
    policy: Option<PathBuf>,
    /// Treat the input as NDJSON (one JSON document per line).
    #[arg(long)]
    ndjson: bool,
    #[command(flatten)]
    common: Common,
    /// Print the findings summary (JSON, counts only) on stderr.
    #[arg(long)]
    summary: bool,
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    input: PathBuf,
}

/// Arguments of `shroud unmask`.
#[derive(Debug, Args)]
pub struct UnmaskArgs {
    /// Treat the input as NDJSON (one JSON document per line).
    #[arg(long)]
    ndjson: bool,
    /// Policy file (only its `[keys]` and `[limits]` are used).
    #[arg(long, short)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    input: PathBuf,
}

/// Flags shared by mask and unmask.
#[derive(Debug, Args)]
struct Common {
    /// Key file (TOML: `active = "k1"` and `[keys] k1 = "<base64 of 32 bytes>"`).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Environment variable holding keys as `id=<base64>[,id=<base64>]` (first is active).
    #[arg(long, default_value = "SHROUD_MASK_KEYS")]
    key_env: String,
    /// Token vault file (redb); created if missing. Needed by `--level tokenize` and to unmask tokens.
    #[arg(long)]
    vault: Option<PathBuf>,
    /// Scope of consistency, tokens and erasure (tenant, user or session id).
    #[arg(long, default_value = "default")]
    scope: String,
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
    } else {
        buf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(buf)
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        Some(p) => Ok(Policy::from_file(p)?),
        None => Ok(Policy::default()),
    }
}

fn load_keys(c: &Common, policy: &Policy) -> anyhow::Result<Option<KeyRing>> {
    let refs = policy.key_refs();
    if let Some(f) = c.key_file.as_deref().or(refs.file.as_deref()) {
        return Ok(Some(KeyRing::from_file(f)?));
    }
    let var = if c.key_env != "SHROUD_MASK_KEYS" {
        Some(c.key_env.as_str())
    } else {
        refs.env.as_deref().or(Some("SHROUD_MASK_KEYS"))
    };
    if let Some(var) = var
        && let Ok(v) = std::env::var(var)
    {
        return Ok(Some(KeyRing::from_env_value(&v, var)?));
    }
    Ok(None)
}

fn load_vault(c: &Common) -> anyhow::Result<Option<Arc<dyn TokenVault>>> {
    Ok(match &c.vault {
        Some(p) => Some(Arc::new(RedbVault::open(p)?)),
        None => None,
    })
}

fn write_out(body: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(body)?;
    if !body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `shroud mask`.
pub fn run_mask(args: MaskArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_deref())?;
    let keys = load_keys(&args.common, &policy)?;
    if args.level == Level::Encrypt && keys.is_none() {
        bail!(
            "--level encrypt needs keys: pass --key-file FILE or set ${}",
            args.common.key_env
        );
    }
    if args.level == Level::Tokenize && args.common.vault.is_none() {
        bail!("--level tokenize needs a token vault: pass --vault FILE");
    }
    if args.level == Level::Substitute && keys.is_none() {
        eprintln!(
            "shroud: note: no keys given; substitutes are consistent within this run only (pass --key-file for stable aliases)"
        );
    }
    let vault = load_vault(&args.common)?;
    let input = read_input(&args.input)?;
    let masker = Masker::new(policy, keys, vault);
    let ctx = MaskContext::scope(args.common.scope.clone());
    let name = args.input.display().to_string();
    let out = if args.ndjson {
        masker.mask_ndjson(&input, args.level, &ctx)
    } else {
        masker.mask_json(&input, args.level, &ctx)
    }
    .with_context(|| name.clone())?;
    write_out(&out.body)?;
    if let Some(alert) = &out.alert {
        eprintln!("shroud: blocked: {}", serde_json::to_string(alert)?);
    }
    if args.summary {
        eprintln!("{}", serde_json::to_string(&out.summary)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `shroud unmask`.
pub fn run_unmask(args: UnmaskArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_deref())?;
    let keys = load_keys(&args.common, &policy)?;
    let vault = load_vault(&args.common)?;
    let input = read_input(&args.input)?;
    let masker = Masker::new(policy, keys, vault);
    let ctx = MaskContext::scope(args.common.scope.clone());
    let name = args.input.display().to_string();
    let out = if args.ndjson {
        masker.unmask_ndjson(&input, &ctx)
    } else {
        masker.unmask_json(&input, &ctx)
    }
    .with_context(|| name.clone())?;
    write_out(&out.body)?;
    if out.unresolved > 0 {
        eprintln!(
            "shroud: warning: {} token-shaped value(s) had no vault entry (expired, erased, other scope, or not tokens)",
            out.unresolved
        );
    }
    Ok(ExitCode::SUCCESS)
}

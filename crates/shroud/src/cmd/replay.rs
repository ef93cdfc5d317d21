//! `shroud replay`: feeds an NDJSON access log (`docs/access-log.md`)
//! through exactly the engine the gateway uses, in timestamp order with time
//! taken from the log, and writes one decision per input line. Used for
//! shadow-testing a new policy on past traffic and for the attack benchmark.

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use shroud_policy::accesslog::{DEFAULT_MAX_LINE_BYTES, LogRecord};
use shroud_policy::{CompiledPolicy, Decision, Engine, EngineOptions, Policy, Reason};

/// Arguments of `shroud replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// NDJSON access log to replay (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub log: PathBuf,
    /// Policy TOML (the built-in policy when absent).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Directory holding engine state: loaded before the replay when
    /// `engine.state` exists there, saved after it.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Write decisions as NDJSON instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// Report bad lines on stderr and go on (default: stop at the first).
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// Longest accepted log line in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES")]
    pub max_line_bytes: usize,
}

/// One output line.
#[derive(Serialize)]
struct Out<'a> {
    line: usize,
    user: &'a str,
    ts: String,
    risk: f32,
    level: shroud_policy::MaskLevel,
    tier: shroud_policy::Tier,
    reasons: &'a [Reason],
    missing: &'a [std::borrow::Cow<'static, str>],
    held: bool,
    id: u64,
    policy_version: &'a str,
}

const STATE_FILE: &str = "engine.state";

/// Runs `shroud replay`.
pub fn run_replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(path) => {
            let text = fs::read_to_string(path)
                .with_context(|| format!("cannot read policy {}", path.display()))?;
            CompiledPolicy::from_toml(&text)
                .with_context(|| format!("policy {}", path.display()))?
        }
        None => CompiledPolicy::compile(Policy::builtin())?,
    };
    let engine = Engine::with_options(
        policy,
        EngineOptions {
            // Deterministic: the population model retrains inline.
            background_retrain: false,
            ..EngineOptions::default()
        },
    );
    if let Some(dir) = &args.state {
        let file = dir.join(STATE_FILE);
        if file.exists() {
            let bytes =
                fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            engine
                .import_state(&bytes)
                .with_context(|| format!("state {}", file.display()))?;
        }
    }

    let reader: Box<dyn BufRead> = if args.log.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let f = fs::File::open(&args.log)
            .with_context(|| format!("cannot open log {}", args.log.display()))?;
        Box::new(BufReader::new(f))
    };
    let mut records: Vec<(usize, LogRecord)> = Vec::new();
    let mut bad = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("log line {n}: cannot read"))?;
        if line.trim().is_empty() {
            continue;
        }
        match LogRecord::parse(&line, args.max_line_bytes) {
            Ok(r) => records.push((n, r)),
            Err(e) if args.skip_bad_lines => {
                bad += 1;
                eprintln!("shroud replay: line {n}: {e} (skipped)");
            }
            Err(e) => bail!("log line {n}: {e} (use --skip-bad-lines to skip bad lines)"),
        }
    }
    // Timestamp order, ties in file order: the engine's state depends on order.
    records.sort_by(|a, b| a.1.ts.cmp(&b.1.ts).then(a.0.cmp(&b.0)));

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut counts = [0usize; 6];
    for (n, rec) in &records {
        // Per-line scratch buffers: the context borrows them with the record.
        let (mut classes, mut external) = (Vec::new(), Vec::new());
        let ctx = rec.context(&mut classes, &mut external);
        let d: Decision = engine.decide(&ctx, rec.ts);
        counts[d.level.rank()] += 1;
        let written = if args.json {
            let o = Out {
                line: *n,
                user: &d.user,
                ts: d.ts.to_rfc3339(),
                risk: d.risk,
                level: d.level,
                tier: d.tier,
                reasons: &d.reasons,
                missing: &d.missing,
                held: d.held,
                id: d.id,
                policy_version: &d.policy_version,
            };
            serde_json::to_writer(&mut out, &o)
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
        } else {
            let reasons: Vec<String> = d
                .reasons
                .iter()
                .map(|r| format!("{}={:.3}(+{:.2})", r.signal, r.value, r.contribution))
                .collect();
            writeln!(
                out,
                "line {} user={} risk={:.3} level={} tier={} reasons={}",
                n,
                d.user,
                d.risk,
                d.level,
                d.tier,
                reasons.join(",")
            )
        };
        match written {
            Ok(()) => {}
            // A closed pipe (`| head`) is not an error worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(e).context("cannot write decisions"),
        }
    }
    out.flush().context("cannot write decisions")?;

    if let Some(dir) = &args.state {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let bytes = engine.export_state()?;
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, dir.join(STATE_FILE))
            .with_context(|| format!("cannot replace {}", dir.join(STATE_FILE).display()))?;
    }
    eprintln!(
        "shroud replay: {} decisions ({} bad lines skipped); levels none={} redact={} substitute={} tokenize={} encrypt={} block={}",
        records.len(),
        bad,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        counts[5]
    );
    Ok(ExitCode::SUCCESS)
}

//! `shroud eval mouse`: mouse-dynamics verification on the Balabit layout
//! (`userN/session_*` CSV files: `record timestamp,client timestamp,button,
//! state,x,y`).
//!
//! Without `--test`: leave-one-session-out cross-validation. For each user U,
//! each of U's sessions S and each other user V, the population model is
//! built from the users other than U and V, U's profile from U's sessions
//! except S; S is scored as genuine and every session of V as impostor. So
//! neither the genuine test session nor the impostor ever shaped the model
//! that judges it. A session's score is the mean of its action scores;
//! 20-action windows are scored too (what the gateway sees).
//!
//! With `--test DIR --labels FILE` (the challenge): profiles from all of a
//! user's training sessions, population from the other users' training
//! sessions, each `DIR/userN/session_*` scored against user N, one global ROC
//! AUC over the labelled sessions.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use shroud_detect::mouse::{
    Button, MouseAction, PointerKind, PointerSample, SegmentCounts, Segmenter,
};
use shroud_detect::mousemodel::{MouseConfig, MousePopulation, MouseProfile};
use shroud_detect::stats::{auc, eer};

/// Arguments of `shroud eval mouse`.
#[derive(Debug, Args)]
pub struct MouseArgs {
    /// Training directory (`userN/session_*`).
    #[arg(long)]
    train: PathBuf,
    /// Test directory of the same layout (requires `--labels`).
    #[arg(long, requires = "labels")]
    test: Option<PathBuf>,
    /// CSV `filename,is_illegal` for the test sessions.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Actions per window for the window-level figures.
    #[arg(long, default_value_t = 20)]
    window: usize,
    /// Dirichlet pseudo-count pulling a user's histograms to the population's.
    #[arg(long, default_value_t = MouseConfig::default().prior)]
    prior: f32,
    /// Cap of one feature's |log-likelihood ratio| in one action.
    #[arg(long, default_value_t = MouseConfig::default().llr_cap)]
    llr_cap: f32,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG ROC/DET plot here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct MouseQuirks {
    files: usize,
    rows: u64,
    malformed_rows: u64,
    bad_samples: u64,
    wheel_events: u64,
    actions: u64,
    too_short_actions: u64,
}

struct Session {
    name: String,
    actions: Vec<MouseAction>,
}

/// Streams one session file into actions.
fn load_session(path: &Path, q: &mut MouseQuirks) -> anyhow::Result<Vec<MouseAction>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let rd = BufReader::with_capacity(1 << 16, f);
    let mut seg = Segmenter::default();
    let mut out = Vec::new();
    let mut emit = |a: MouseAction| out.push(a);
    for (i, line) in rd.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("reading {} line {}", path.display(), i + 1))?;
        if i == 0 {
            continue; // header
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        q.rows += 1;
        let mut it = line.split(',');
        let (_rec, t, button, state, x, y) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        );
        let (Some(t), Some(button), Some(state), Some(x), Some(y)) = (t, button, state, x, y)
        else {
            q.malformed_rows += 1;
            continue;
        };
        let (Ok(t), Ok(x), Ok(y)) = (t.parse::<f64>(), x.parse::<f64>(), y.parse::<f64>()) else {
            q.malformed_rows += 1;
            continue;
        };
        let kind = match state {
            "Move" => PointerKind::Move,
            "Drag" => PointerKind::Drag,
            "Pressed" => PointerKind::Down,
            "Released" => PointerKind::Up,
            "Down" => PointerKind::Wheel(1),
            "Up" => PointerKind::Wheel(-1),
            _ => {
                q.malformed_rows += 1;
                continue;
            }
        };
        let button = match button {
            "Left" => Button::Left,
            "Right" => Button::Right,
            "NoButton" | "Scroll" => Button::None,
            _ => Button::Other,
        };
        seg.push(
            PointerSample {
                t_ms: t * 1000.0,
                x,
                y,
                kind,
                button,
            },
            &mut emit,
        );
    }
    seg.finish(&mut emit);
    let SegmentCounts {
        bad_samples,
        wheel,
        actions,
        too_short,
        ..
    } = seg.counts;
    q.bad_samples += bad_samples;
    q.wheel_events += wheel;
    q.actions += actions;
    q.too_short_actions += too_short;
    q.files += 1;
    Ok(out)
}

fn load_dir(dir: &Path, q: &mut MouseQuirks) -> anyhow::Result<Vec<(String, Vec<Session>)>> {
    let mut users: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for e in std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list directory", dir.display()))?
    {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !p.is_dir() || !name.starts_with("user") {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("session_"))
            })
            .collect();
        files.sort();
        users.push((name, files));
    }
    users.sort_by_key(|u| u.0[4..].parse::<u64>().unwrap_or(u64::MAX));
    let total: usize = users.iter().map(|u| u.1.len()).sum();
    let bar = super::progress(total as u64, "loading");
    let loaded: Vec<anyhow::Result<(String, Vec<Session>, MouseQuirks)>> = users
        .par_iter()
        .map(|(name, files)| {
            let mut q = MouseQuirks::default();
            let mut sessions = Vec::new();
            for f in files {
                let actions = load_session(f, &mut q)?;
                let sname = f
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                sessions.push(Session {
                    name: sname,
                    actions,
                });
                bar.inc(1);
            }
            Ok((name.clone(), sessions, q))
        })
        .collect();
    bar.finish_and_clear();
    let mut out = Vec::new();
    for r in loaded {
        let (n, s, uq) = r?;
        q.files += uq.files;
        q.rows += uq.rows;
        q.malformed_rows += uq.malformed_rows;
        q.bad_samples += uq.bad_samples;
        q.wheel_events += uq.wheel_events;
        q.actions += uq.actions;
        q.too_short_actions += uq.too_short_actions;
        out.push((n, s));
    }
    Ok(out)
}

/// One scored session: (user index, genuine?, whole-session scores, window scores).
type Trial = (usize, bool, [f64; 4], Vec<[f64; 4]>);

const DETECTORS: [&str; 4] = [
    "nb-llr (population-normalized)",
    "nb-llr, trimmed mean",
    "scaled-manhattan",
    "gaussian (one-class)",
];

#[derive(Debug, Serialize)]
struct DetectorResult {
    detector: String,
    /// Global ROC AUC over sessions (one threshold for everyone).
    auc: f64,
    /// Mean over users of the per-user session AUC.
    mean_user_auc: f64,
    /// Global EER over sessions.
    eer: f64,
    /// Global ROC AUC over windows of `window` actions.
    window_auc: f64,
    /// Global EER over windows.
    window_eer: f64,
}

#[derive(Debug, Serialize)]
struct MouseReport {
    protocol: String,
    users: usize,
    sessions: usize,
    genuine_trials: usize,
    impostor_trials: usize,
    window: usize,
    auc: f64,
    results: Vec<DetectorResult>,
    profile_bytes_max: usize,
    quirks: MouseQuirks,
}

fn scores3(
    p: &MouseProfile,
    pop: &MousePopulation,
    cfg: &MouseConfig,
    a: &[MouseAction],
) -> [f64; 4] {
    let s = p.score(pop, cfg, a);
    [s.nb, s.nb_trimmed, s.manhattan, s.gaussian]
}

/// Scores of one session: the whole session and its windows.
fn session_scores(
    p: &MouseProfile,
    pop: &MousePopulation,
    cfg: &MouseConfig,
    a: &[MouseAction],
    window: usize,
) -> ([f64; 4], Vec<[f64; 4]>) {
    let whole = scores3(p, pop, cfg, a);
    let wins = a
        .chunks(window.max(1))
        .filter(|c| c.len() == window.max(1))
        .map(|c| scores3(p, pop, cfg, c))
        .collect();
    (whole, wins)
}

/// Runs `shroud eval mouse`.
pub fn run_mouse(a: MouseArgs) -> anyhow::Result<ExitCode> {
    let mut q = MouseQuirks::default();
    let train = load_dir(&a.train, &mut q)?;
    if train.len() < 3 {
        bail!(
            "--train {}: need at least 3 user folders, found {}",
            a.train.display(),
            train.len()
        );
    }
    let cfg = MouseConfig {
        prior: a.prior,
        llr_cap: a.llr_cap,
    };
    let w = a.window.max(1);
    // (user index, genuine?, whole scores, window scores)
    let mut trials: Vec<Trial> = Vec::new();
    let mut profile_bytes_max = 0usize;
    let protocol;
    if let (Some(test), Some(labels)) = (&a.test, &a.labels) {
        protocol = "challenge: per-user profile from all training sessions, population from the other users' training sessions, each labelled test session scored against its user folder".to_owned();
        let lab = load_labels(labels)?;
        let mut tq = MouseQuirks::default();
        let test_users = load_dir(test, &mut tq)?;
        for (ti, (tname, tsessions)) in test_users.iter().enumerate() {
            let Some(ui) = train.iter().position(|u| &u.0 == tname) else {
                bail!("--test {}: {tname} has no training folder", test.display());
            };
            let pop = MousePopulation::build(
                train
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != ui)
                    .flat_map(|(_, u)| u.1.iter().flat_map(|s| s.actions.iter())),
            );
            let prof =
                MouseProfile::enroll(&pop, train[ui].1.iter().flat_map(|s| s.actions.iter()));
            profile_bytes_max = profile_bytes_max.max(prof.to_bytes().len());
            for s in tsessions {
                let Some(&illegal) = lab.get(&s.name) else {
                    continue;
                };
                let (whole, wins) = session_scores(&prof, &pop, &cfg, &s.actions, w);
                trials.push((ti, !illegal, whole, wins));
            }
        }
        if trials.is_empty() {
            bail!(
                "--labels {}: no labelled session found under --test",
                labels.display()
            );
        }
    } else {
        protocol = "leave-one-session-out: for user U, session S, other user V: population from users other than U and V, profile from U's other sessions; S genuine, every session of V impostor".to_owned();
        let n = train.len();
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|u| (0..n).filter(move |&v| v != u).map(move |v| (u, v)))
            .collect();
        let bar = super::progress(pairs.len() as u64, "scoring");
        let res: Vec<(Vec<Trial>, usize)> = pairs
            .par_iter()
            .map(|&(u, v)| {
                let pop = MousePopulation::build(
                    train
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != u && *i != v)
                        .flat_map(|(_, x)| x.1.iter().flat_map(|s| s.actions.iter())),
                );
                let mut out = Vec::new();
                let mut maxb = 0;
                let us = &train[u].1;
                for (si, s) in us.iter().enumerate() {
                    let prof = MouseProfile::enroll(
                        &pop,
                        us.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != si)
                            .flat_map(|(_, x)| x.actions.iter()),
                    );
                    maxb = maxb.max(prof.to_bytes().len());
                    let (whole, wins) = session_scores(&prof, &pop, &cfg, &s.actions, w);
                    out.push((u, true, whole, wins));
                    for imp in &train[v].1 {
                        let (whole, wins) = session_scores(&prof, &pop, &cfg, &imp.actions, w);
                        out.push((u, false, whole, wins));
                    }
                }
                bar.inc(1);
                (out, maxb)
            })
            .collect();
        bar.finish_and_clear();
        for (r, b) in res {
            trials.extend(r);
            profile_bytes_max = profile_bytes_max.max(b);
        }
    }
    let mut results = Vec::new();
    let mut plot = Vec::new();
    for (d, name) in DETECTORS.iter().enumerate() {
        let g: Vec<f64> = trials.iter().filter(|t| t.1).map(|t| t.2[d]).collect();
        let i: Vec<f64> = trials.iter().filter(|t| !t.1).map(|t| t.2[d]).collect();
        let gw: Vec<f64> = trials
            .iter()
            .filter(|t| t.1)
            .flat_map(|t| t.3.iter().map(move |s| s[d]))
            .collect();
        let iw: Vec<f64> = trials
            .iter()
            .filter(|t| !t.1)
            .flat_map(|t| t.3.iter().map(move |s| s[d]))
            .collect();
        let users: std::collections::BTreeSet<usize> = trials.iter().map(|t| t.0).collect();
        let per_user: Vec<f64> = users
            .iter()
            .filter_map(|&u| {
                let g: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.0 == u && t.1)
                    .map(|t| t.2[d])
                    .collect();
                let i: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.0 == u && !t.1)
                    .map(|t| t.2[d])
                    .collect();
                auc(&g, &i)
            })
            .collect();
        results.push(DetectorResult {
            detector: (*name).to_owned(),
            auc: auc(&g, &i).unwrap_or(f64::NAN),
            mean_user_auc: per_user.iter().sum::<f64>() / per_user.len().max(1) as f64,
            eer: eer(&g, &i).unwrap_or(f64::NAN),
            window_auc: auc(&gw, &iw).unwrap_or(f64::NAN),
            window_eer: eer(&gw, &iw).unwrap_or(f64::NAN),
        });
        plot.push((format!("{name}, session"), g, i));
        if d == 0 {
            plot.push((format!("{name}, {w}-action window"), gw, iw));
        }
    }
    let report = MouseReport {
        protocol,
        users: train.len(),
        sessions: train.iter().map(|u| u.1.len()).sum(),
        genuine_trials: trials.iter().filter(|t| t.1).count(),
        impostor_trials: trials.iter().filter(|t| !t.1).count(),
        window: w,
        auc: results[0].auc,
        results,
        profile_bytes_max,
        quirks: q,
    };
    if let Some(p) = &a.plot {
        std::fs::write(
            p,
            super::det_svg("Mouse DET (Balabit, global threshold)", &plot),
        )
        .with_context(|| format!("--plot {}: cannot write", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "mouse verification: {} users, {} sessions; {} genuine / {} impostor session trials",
            report.users, report.sessions, report.genuine_trials, report.impostor_trials
        );
        println!("protocol: {}", report.protocol);
        println!(
            "{:<32} {:>8} {:>9} {:>8} {:>10} {:>10}",
            "detector",
            "AUC",
            "user AUC",
            "EER",
            format!("AUC/{w}act"),
            format!("EER/{w}act")
        );
        for r in &report.results {
            println!(
                "{:<32} {:>8.4} {:>9.4} {:>7.2}% {:>10.4} {:>9.2}%",
                r.detector,
                r.auc,
                r.mean_user_auc,
                100.0 * r.eer,
                r.window_auc,
                100.0 * r.window_eer
            );
        }
        let q = &report.quirks;
        println!(
            "data: {} files, {} rows, {} malformed, {} bad samples, {} wheel events, {} actions, {} too-short candidates dropped; profile <= {} bytes",
            q.files,
            q.rows,
            q.malformed_rows,
            q.bad_samples,
            q.wheel_events,
            q.actions,
            q.too_short_actions,
            report.profile_bytes_max
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn load_labels(p: &Path) -> anyhow::Result<HashMap<String, bool>> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("--labels {}: cannot read", p.display()))?;
    let mut m = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || (i == 0 && l.starts_with("filename")) {
            continue;
        }
        let Some((f, v)) = l.split_once(',') else {
            bail!(
                "--labels {} line {}: expected `filename,is_illegal`",
                p.display(),
                i + 1
            );
        };
        let v = match v.trim() {
            "0" | "0.0" => false,
            "1" | "1.0" => true,
            other => bail!(
                "--labels {} line {}: is_illegal must be 0 or 1, got {other:?}",
                p.display(),
                i + 1
            ),
        };
        m.insert(f.trim().to_owned(), v);
    }
    Ok(m)
}

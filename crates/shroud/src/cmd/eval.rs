//! `shroud eval`: measures the behavioral-biometrics detectors on real public
//! data sets (`../shared/datasets/`, see its README) with the published
//! protocols, and prints tables, JSON and DET/ROC plots.
//!
//! Keystrokes (Aalto 136M, free text): for each participant, enroll on the
//! first E sentences, score the remaining sentences as genuine attempts and
//! one sentence from each of N other participants as impostor attempts; EER
//! per participant, mean and standard deviation over participants.
//! Everything learned from other users (the population model, the fusion
//! scorer, the T-norm cohort) comes from the OTHER half of a 2-fold split of
//! the participants, so no evaluated participant is ever seen in training.
//!
//! Mouse (Balabit): see [`run_mouse`].

mod mouse;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use shroud_detect::keymodel::{Comparison, KeyPopulation, KeyProfile, ModelConfig, compare};
use shroud_detect::keystroke::{
    ExtractCounts, KeyExtractor, KeyId, KeyWindow, Keystroke, zone_of_js_keycode,
};
use shroud_detect::stats::{Logistic, det_points, eer};

/// Arguments of `shroud eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalWhat,
}

#[derive(Debug, Subcommand)]
enum EvalWhat {
    /// Free-text keystroke verification on the Aalto 136M layout.
    Keystroke(KeystrokeArgs),
    /// Mouse-dynamics verification on the Balabit layout.
    Mouse(mouse::MouseArgs),
}

/// Key granularity for the keystroke evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyMode {
    /// The key zones the browser collector sends (privacy-preserving).
    Zones,
    /// Full key codes (only to measure what zones cost).
    Full,
}

/// Arguments of `shroud eval keystroke`.
#[derive(Debug, Args)]
pub struct KeystrokeArgs {
    /// Directory of `<ID>_keystrokes.txt` files.
    #[arg(long)]
    data: PathBuf,
    /// Enrollment sizes E (sentences), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    enroll: Vec<usize>,
    /// Key granularity.
    #[arg(long, value_enum, default_value = "zones")]
    keys: KeyMode,
    /// Impostor participants per evaluated participant (one sentence each).
    #[arg(long, default_value_t = 100)]
    impostors: usize,
    /// Size of the T-norm cohort (profiles of other-fold users); the cost of
    /// the evaluation grows linearly with it.
    #[arg(long, default_value_t = 20)]
    cohort: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG DET plot (pooled per-participant-normalized scores) here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Evaluate only the first N participants (by id), for quick checks.
    #[arg(long)]
    limit: Option<usize>,
}

/// Runs `shroud eval`.
pub fn run_eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        EvalWhat::Keystroke(a) => run_keystroke(a),
        EvalWhat::Mouse(a) => mouse::run_mouse(a),
    }
}

/// Data-set quirks met while loading, reported with the results.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Quirks {
    files: usize,
    rows: u64,
    malformed_rows: u64,
    non_utf8_rows: u64,
    repeated_rows: u64,
    missing_release: u64,
    release_before_press: u64,
    odd_keycodes: u64,
    sentences: u64,
    participants_skipped: u64,
}

impl Quirks {
    fn add(&mut self, o: &Quirks) {
        self.files += o.files;
        self.rows += o.rows;
        self.malformed_rows += o.malformed_rows;
        self.non_utf8_rows += o.non_utf8_rows;
        self.repeated_rows += o.repeated_rows;
        self.missing_release += o.missing_release;
        self.release_before_press += o.release_before_press;
        self.odd_keycodes += o.odd_keycodes;
        self.sentences += o.sentences;
        self.participants_skipped += o.participants_skipped;
    }
}

struct Participant {
    id: u64,
    /// One window per sentence, in the order the sentences were typed.
    windows: Vec<KeyWindow>,
}

/// A sentence being read: first press time, keystrokes, (press, code) seen.
type Section = (f64, Vec<Keystroke>, std::collections::HashSet<(i64, u16)>);

/// Parses one participant file into sentences of keystrokes.
fn load_participant(
    path: &Path,
    mode: KeyMode,
    q: &mut Quirks,
) -> anyhow::Result<(u64, Vec<Vec<Keystroke>>)> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rd = BufReader::new(f);
    let mut raw = Vec::new();
    let mut header = true;
    // section id -> (first press, keystrokes, seen (press, code) pairs)
    let mut sections: HashMap<u64, Section> = HashMap::new();
    let mut pid = None;
    let mut lineno = 0u64;
    loop {
        raw.clear();
        let n = rd
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading {} line {}", path.display(), lineno + 1))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        // The typed text may hold invalid UTF-8; only the numeric fields matter.
        let line = String::from_utf8_lossy(&raw);
        if header {
            header = false;
            if !line.starts_with("PARTICIPANT_ID") {
                bail!(
                    "{}: line 1 is not the expected header (PARTICIPANT_ID ...)",
                    path.display()
                );
            }
            continue;
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            continue;
        }
        q.rows += 1;
        if std::str::from_utf8(&raw).is_err() {
            q.non_utf8_rows += 1;
        }
        // Fields may contain tabs in the typed text only in broken rows: take
        // the id fields from the front and the timing fields from the back.
        let fields: Vec<&str> = l.split('\t').collect();
        if fields.len() < 9 {
            q.malformed_rows += 1;
            continue;
        }
        let k = fields.len();
        let parsed = (
            fields[0].trim().parse::<u64>(),
            fields[1].trim().parse::<u64>(),
            fields[k - 4].trim().parse::<f64>(),
            fields[k - 1].trim().parse::<u16>(),
        );
        let (Ok(p), Ok(sec), Ok(press), Ok(code)) = parsed else {
            q.malformed_rows += 1;
            continue;
        };
        if !press.is_finite() {
            q.malformed_rows += 1;
            continue;
        }
        pid.get_or_insert(p);
        let release = match fields[k - 3].trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r >= press => Some(r),
            Ok(r) if r.is_finite() => {
                q.release_before_press += 1;
                None
            }
            _ => {
                q.missing_release += 1;
                None
            }
        };
        if !(8..=255).contains(&code) || code == 229 {
            q.odd_keycodes += 1;
        }
        let key = match mode {
            KeyMode::Zones => KeyId::Zone(zone_of_js_keycode(code)),
            KeyMode::Full => KeyId::Code(code),
        };
        let e = sections
            .entry(sec)
            .or_insert_with(|| (press, Vec::new(), Default::default()));
        if !e.2.insert((press as i64, code)) {
            q.repeated_rows += 1;
            continue;
        }
        e.0 = e.0.min(press);
        e.1.push(Keystroke {
            press_ms: press,
            release_ms: release,
            key,
        });
    }
    let id = match pid {
        Some(p) => p,
        None => bail!("{}: no data rows", path.display()),
    };
    let mut secs: Vec<(f64, Vec<Keystroke>)> =
        sections.into_values().map(|(t, k, _)| (t, k)).collect();
    secs.sort_by(|a, b| a.0.total_cmp(&b.0));
    q.files += 1;
    q.sentences += secs.len() as u64;
    Ok((id, secs.into_iter().map(|s| s.1).collect()))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The detectors reported, in table order.
const DETECTORS: [&str; 6] = [
    "scaled-manhattan",
    "mahalanobis (one-class)",
    "plda (population-normalized)",
    "plda + t-norm",
    "learned fusion",
    "learned fusion + t-norm",
];

#[derive(Debug, Serialize)]
struct ResultRow {
    detector: String,
    enroll: usize,
    mean_eer: f64,
    std_eer: f64,
    participants: usize,
}

#[derive(Debug, Serialize)]
struct KeystrokeReport {
    participants: usize,
    keys: String,
    impostors: usize,
    cohort: usize,
    protocol: String,
    quirks: Quirks,
    results: Vec<ResultRow>,
    profile_bytes_mean: f64,
    profile_bytes_max: usize,
}

/// Per-participant scores of one E, every detector.
struct UserScores {
    genuine: Vec<[f64; 6]>,
    impostor: Vec<[f64; 6]>,
}

fn base_scores(c: &Comparison, lr: &Logistic, buf: &mut Vec<f64>) -> [f64; 3] {
    c.features_into(buf);
    [
        f64::from(c.plda()),
        -lr.logit(buf),
        f64::from(c.scaled_manhattan()),
    ]
}

fn run_keystroke(a: KeystrokeArgs) -> anyhow::Result<ExitCode> {
    if a.enroll.is_empty() || a.enroll.contains(&0) {
        bail!("--enroll: give positive sentence counts, e.g. 1,5,10");
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.data)
        .with_context(|| format!("--data {}: cannot list directory", a.data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_keystrokes.txt"))
        })
        .collect();
    if files.is_empty() {
        bail!("--data {}: no *_keystrokes.txt files", a.data.display());
    }
    files.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('_').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    if let Some(l) = a.limit {
        files.truncate(l);
    }
    let emax = a.enroll.iter().copied().max().unwrap_or(1);
    let bar = progress(files.len() as u64, "loading");
    let loaded: Vec<anyhow::Result<(Participant, Quirks, ExtractCounts)>> = files
        .par_iter()
        .map(|path| {
            let mut q = Quirks::default();
            let (id, sents) = load_participant(path, a.keys, &mut q)?;
            let mut ex = KeyExtractor::default();
            let mut counts = ExtractCounts::default();
            let windows = sents
                .iter()
                .filter(|s| s.len() >= 2)
                .map(|s| ex.extract(s, &mut counts))
                .collect();
            bar.inc(1);
            Ok((Participant { id, windows }, q, counts))
        })
        .collect();
    bar.finish_and_clear();
    let mut quirks = Quirks::default();
    let mut parts = Vec::new();
    for r in loaded {
        let (p, q, _c) = r?;
        quirks.add(&q);
        if p.windows.len() < emax + 1 {
            quirks.participants_skipped += 1;
            continue;
        }
        parts.push(p);
    }
    parts.sort_by_key(|p| p.id);
    let n = parts.len();
    if n < 4 {
        bail!(
            "--data {}: only {n} usable participants (need at least 4)",
            a.data.display()
        );
    }
    let impostors = a.impostors.min(n / 2 - 1);
    let cfg = ModelConfig::default();
    let folds: [Vec<usize>; 2] = [
        (0..n).filter(|i| i % 2 == 0).collect(),
        (0..n).filter(|i| i % 2 == 1).collect(),
    ];
    // Populations: built from each fold, all sentences of its users.
    let pops: Vec<KeyPopulation> = folds
        .iter()
        .map(|f| {
            let users: Vec<Vec<&KeyWindow>> = f
                .iter()
                .map(|&i| parts[i].windows.iter().collect())
                .collect();
            KeyPopulation::build(&users, 3)
        })
        .collect();
    let total_work = (a.enroll.len() * n) as u64;
    let bar = progress(total_work, "scoring");
    let mut results = Vec::new();
    let mut plot_sets: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    for &e in &a.enroll {
        let mut per_user: Vec<UserScores> = Vec::with_capacity(n);
        for test_fold in 0..2 {
            let train = &folds[1 - test_fold];
            let test = &folds[test_fold];
            let pop = &pops[1 - test_fold];
            let lr = train_fusion(&parts, train, pop, e, &cfg)?;
            let cohort: Vec<KeyProfile> = train
                .iter()
                .take(a.cohort)
                .map(|&i| {
                    KeyProfile::enroll(&parts[i].windows.iter().take(e).collect::<Vec<_>>(), &cfg)
                })
                .collect();
            let scores: Vec<(UserScores, usize)> = test
                .par_iter()
                .enumerate()
                .map(|(ti, &ui)| {
                    let u = &parts[ui];
                    let prof =
                        KeyProfile::enroll(&u.windows.iter().take(e).collect::<Vec<_>>(), &cfg);
                    let size = shroud_detect::profile::KeyProfileCodec::encode(&prof).len();
                    let mut buf = Vec::new();
                    let mut score = |w: &KeyWindow| -> [f64; 6] {
                        let c = compare(w, &prof, pop, &cfg);
                        let [pl, le, sm] = base_scores(&c, &lr, &mut buf);
                        // T-norm: the same window against the cohort.
                        let (mut sp, mut sp2, mut sl, mut sl2) = (0.0, 0.0, 0.0, 0.0);
                        for cp in &cohort {
                            let cc = compare(w, cp, pop, &cfg);
                            let [p2, l2, _] = base_scores(&cc, &lr, &mut buf);
                            sp += p2;
                            sp2 += p2 * p2;
                            sl += l2;
                            sl2 += l2 * l2;
                        }
                        let k = cohort.len().max(1) as f64;
                        let tn = |s: f64, m: f64, m2: f64| {
                            let mean = m / k;
                            let sd = (m2 / k - mean * mean).max(1e-9).sqrt();
                            (s - mean) / sd
                        };
                        [
                            sm,
                            f64::from(c.mahalanobis()),
                            pl,
                            tn(pl, sp, sp2),
                            le,
                            tn(le, sl, sl2),
                        ]
                    };
                    let genuine: Vec<[f64; 6]> = u.windows[e..].iter().map(&mut score).collect();
                    // Impostors: one random sentence of each of `impostors`
                    // other participants of the same (test) fold.
                    let mut impostor = Vec::with_capacity(impostors);
                    let mut k = 0u64;
                    let mut used = std::collections::HashSet::new();
                    while impostor.len() < impostors && k < 100_000 {
                        let h = splitmix((u.id << 20) ^ k ^ ((e as u64) << 50));
                        k += 1;
                        let oi = test[(h % test.len() as u64) as usize];
                        if oi == ui || !used.insert(oi) {
                            continue;
                        }
                        let o = &parts[oi];
                        let w = &o.windows[((h >> 32) % o.windows.len() as u64) as usize];
                        impostor.push(score(w));
                    }
                    bar.inc(1);
                    let _ = ti;
                    (UserScores { genuine, impostor }, size)
                })
                .collect();
            for (s, size) in scores {
                per_user.push(s);
                sizes.push(size);
            }
        }
        for (d, name) in DETECTORS.iter().enumerate() {
            let eers: Vec<f64> = per_user
                .iter()
                .filter_map(|u| {
                    let g: Vec<f64> = u.genuine.iter().map(|s| s[d]).collect();
                    let i: Vec<f64> = u.impostor.iter().map(|s| s[d]).collect();
                    eer(&g, &i)
                })
                .collect();
            let (mean, sd) = mean_sd(&eers);
            results.push(ResultRow {
                detector: (*name).to_owned(),
                enroll: e,
                mean_eer: mean,
                std_eer: sd,
                participants: eers.len(),
            });
        }
        if a.plot.is_some() {
            // Pool per-user z-normalized scores of the best detectors (pooling
            // needs a common scale; per-user EER does not).
            for d in [0usize, 3, 5] {
                let (mut g, mut im) = (Vec::new(), Vec::new());
                for u in &per_user {
                    let imp: Vec<f64> = u.impostor.iter().map(|s| s[d]).collect();
                    let (m, sd) = mean_sd(&imp);
                    let sd = sd.max(1e-9);
                    g.extend(u.genuine.iter().map(|s| (s[d] - m) / sd));
                    im.extend(imp.iter().map(|s| (s - m) / sd));
                }
                plot_sets.push((format!("{} E={e}", DETECTORS[d]), g, im));
            }
        }
    }
    bar.finish_and_clear();
    let (smean, _) = mean_sd(&sizes.iter().map(|&s| s as f64).collect::<Vec<_>>());
    let report = KeystrokeReport {
        participants: n,
        keys: format!("{:?}", a.keys).to_lowercase(),
        impostors,
        cohort: a.cohort,
        protocol: "2-fold over participants (even/odd index by id): population model, fusion scorer and t-norm cohort come from the other fold; impostors are from the evaluated fold".to_owned(),
        quirks,
        results,
        profile_bytes_mean: smean,
        profile_bytes_max: sizes.iter().copied().max().unwrap_or(0),
    };
    if let Some(p) = &a.plot {
        let svg = det_svg(
            "Keystroke DET (zones: per-participant z-normalized scores)",
            &plot_sets,
        );
        std::fs::write(p, svg).with_context(|| format!("--plot {}: cannot write", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_keystroke_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn train_fusion(
    parts: &[Participant],
    train: &[usize],
    pop: &KeyPopulation,
    e: usize,
    cfg: &ModelConfig,
) -> anyhow::Result<Logistic> {
    // Same-user pairs: each train user's profile vs their own later sentences;
    // different-user pairs: vs 15 sentences of other train users.
    let rows: Vec<(Vec<Vec<f64>>, Vec<bool>)> = train
        .par_iter()
        .map(|&ui| {
            let u = &parts[ui];
            let prof = KeyProfile::enroll(&u.windows.iter().take(e).collect::<Vec<_>>(), cfg);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for w in &u.windows[e..] {
                x.push(compare(w, &prof, pop, cfg).features());
                y.push(true);
            }
            for k in 0..15u64 {
                let h = splitmix(u.id.wrapping_mul(31).wrapping_add(k) ^ 0xABCD);
                let oi = train[(h % train.len() as u64) as usize];
                if oi == ui {
                    continue;
                }
                let o = &parts[oi];
                let w = &o.windows[((h >> 32) % o.windows.len() as u64) as usize];
                x.push(compare(w, &prof, pop, cfg).features());
                y.push(false);
            }
            (x, y)
        })
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (a, b) in rows {
        x.extend(a);
        y.extend(b);
    }
    Logistic::fit(&x, &y, 1e-3, 300).context("training the fusion scorer: no training pairs")
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

fn print_keystroke_table(r: &KeystrokeReport) {
    println!(
        "keystroke verification: {} participants, keys={}, {} impostor sentences each, t-norm cohort {}",
        r.participants, r.keys, r.impostors, r.cohort
    );
    println!("protocol: {}", r.protocol);
    println!(
        "{:<32} {:>3} {:>10} {:>9}",
        "detector", "E", "mean EER", "std"
    );
    for row in &r.results {
        println!(
            "{:<32} {:>3} {:>9.2}% {:>8.2}%",
            row.detector,
            row.enroll,
            100.0 * row.mean_eer,
            100.0 * row.std_eer
        );
    }
    let q = &r.quirks;
    println!(
        "data quirks: {} files, {} rows, {} malformed, {} with non-UTF-8 text (kept), {} repeated (dropped), {} missing release, {} release before press, {} odd key codes, {} sentences, {} participants skipped (too few sentences)",
        q.files,
        q.rows,
        q.malformed_rows,
        q.non_utf8_rows,
        q.repeated_rows,
        q.missing_release,
        q.release_before_press,
        q.odd_keycodes,
        q.sentences,
        q.participants_skipped
    );
    println!(
        "profile size (postcard, bytes): mean {:.0}, max {}",
        r.profile_bytes_mean, r.profile_bytes_max
    );
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, msg: &'static str) -> ProgressBar {
    let b = ProgressBar::new(len);
    if let Ok(s) = ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} {elapsed_precise}")
    {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_message(msg);
    b
}

/// A DET plot (false-reject vs false-accept, log-ish axes) as a small SVG.
/// Hand-written: a few polylines do not justify a plotting dependency.
pub fn det_svg(title: &str, sets: &[(String, Vec<f64>, Vec<f64>)]) -> String {
    let (w, h, m) = (640.0, 520.0, 60.0);
    // Probit-free axes: sqrt scale spreads the interesting low-error corner.
    let ax = |v: f64| m + (w - 2.0 * m) * v.clamp(0.0, 1.0).sqrt();
    let ay = |v: f64| h - m - (h - 2.0 * m) * v.clamp(0.0, 1.0).sqrt();
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
        "#17becf",
    ];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
        w / 2.0,
        xml_escape(title)
    );
    for t in [0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0] {
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            m,
            h - m,
            h - m + 14.0,
            t * 100.0,
            m,
            w - m,
            m - 4.0,
            ay(t) + 4.0,
            t * 100.0,
            x = ax(t),
            y = ay(t)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aaa\" stroke-dasharray=\"4\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">false accept rate (%)</text>\
<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">false reject rate (%)</text>",
        ax(0.0),
        ay(0.0),
        ax(1.0),
        ay(1.0),
        w / 2.0,
        h - 20.0,
        h / 2.0,
        h / 2.0
    );
    for (i, (name, g, im)) in sets.iter().enumerate() {
        let Some(pts) = det_points(g, im) else {
            continue;
        };
        let c = colors[i % colors.len()];
        let step = (pts.len() / 2000).max(1);
        let poly: Vec<String> = pts
            .iter()
            .step_by(step)
            .chain(pts.last())
            .map(|(far, frr)| format!("{:.1},{:.1}", ax(*far), ay(*frr)))
            .collect();
        let e = eer(g, im).unwrap_or(f64::NAN);
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{}\"/>\
<text x=\"{}\" y=\"{}\" fill=\"{c}\" text-anchor=\"end\">{} (pooled EER {:.2}%)</text>",
            poly.join(" "),
            w - m - 4.0,
            m + 14.0 * (i as f64 + 1.0),
            xml_escape(name),
            100.0 * e
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

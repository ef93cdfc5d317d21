//! Scores `shroud replay --json` output against the generator's ground truth:
//! detection rate at a 1 % false-positive rate, per scenario and overall,
//! per request and per incident (an incident counts as detected when any of
//! its requests is flagged).
//!
//! ```text
//! cargo run --release -p shroud-policy --example eval_replay -- \
//!     --labels /tmp/labels.csv --decisions /tmp/decisions.ndjson [--fpr 0.01]
//! ```
//!
//! Only requests after the warm-up (`eval` = 1 in the labels) are scored;
//! the threshold is the smallest risk such that at most `fpr` of the normal
//! requests in that window are above it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;

fn main() {
    let mut labels = String::from("labels.csv");
    let mut decisions = String::from("decisions.ndjson");
    let mut fpr = 0.01f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--labels" => labels = v,
            "--decisions" => decisions = v,
            "--fpr" => fpr = v.parse().expect("--fpr F"),
            _ => panic!("unknown argument {a}"),
        }
    }
    // line -> (label, incident, eval)
    let mut truth: HashMap<usize, (String, u32, bool)> = HashMap::new();
    let f = std::io::BufReader::new(std::fs::File::open(&labels).expect("labels file"));
    for l in f.lines().skip(1) {
        let l = l.unwrap();
        let p: Vec<&str> = l.split(',').collect();
        truth.insert(
            p[0].parse().unwrap(),
            (p[1].to_owned(), p[2].parse().unwrap(), p[3] == "1"),
        );
    }
    let mut normal: Vec<f32> = Vec::new();
    let mut attacks: Vec<(String, u32, f32)> = Vec::new();
    let f = std::io::BufReader::new(std::fs::File::open(&decisions).expect("decisions file"));
    for l in f.lines() {
        let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
        let line = v["line"].as_u64().unwrap() as usize;
        let risk = v["risk"].as_f64().unwrap() as f32;
        let (label, inc, eval) = truth.get(&line).expect("line in labels").clone();
        if !eval {
            continue;
        }
        if label == "normal" {
            normal.push(risk);
        } else {
            attacks.push((label, inc, risk));
        }
    }
    normal.sort_by(|a, b| b.total_cmp(a));
    let k = ((normal.len() as f64) * fpr).floor() as usize;
    let thr = normal.get(k).copied().unwrap_or(1.0);
    let fp = normal.iter().filter(|r| **r > thr).count();
    println!(
        "normal requests scored: {}, threshold at {:.2}% FPR: risk > {:.4} (actual FPR {:.3}%)",
        normal.len(),
        fpr * 100.0,
        thr,
        100.0 * fp as f64 / normal.len().max(1) as f64
    );
    let mut per: BTreeMap<String, (usize, usize, BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    for (label, inc, risk) in &attacks {
        let e = per.entry(label.clone()).or_default();
        e.0 += 1;
        e.2.insert(*inc);
        if *risk > thr {
            e.1 += 1;
            e.3.insert(*inc);
        }
    }
    println!(
        "| scenario | requests | detected (per request) | incidents | detected (per incident) |"
    );
    println!("|---|---:|---:|---:|---:|");
    let (mut n, mut d, mut ni, mut di) = (0, 0, 0, 0);
    for (label, (total, det, incs, dinc)) in &per {
        println!(
            "| {label} | {total} | {:.1}% | {} | {:.1}% |",
            100.0 * *det as f64 / *total as f64,
            incs.len(),
            100.0 * dinc.len() as f64 / incs.len() as f64
        );
        n += total;
        d += det;
        ni += incs.len();
        di += dinc.len();
    }
    println!(
        "| **overall** | {n} | {:.1}% | {ni} | {:.1}% |",
        100.0 * d as f64 / n.max(1) as f64,
        100.0 * di as f64 / ni.max(1) as f64
    );
}

//! `shroud replay` end to end: ordering by log time, JSON output, bad lines
//! skipped or fatal, policy errors, and state saved between runs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

const LOG: &str = r#"{"ts":"2026-11-02T10:00:05Z","user":"b","ip":"203.0.113.9","route":"/x","method":"GET","records":3}
{"ts":"2026-11-02T10:00:00Z","user":"a","ip":"203.0.113.9","route":"/x","method":"GET","records":3}
not json

{"ts":"2026-11-02T10:00:09Z","user":"a","ip":"bad-ip"}
"#;

fn shroud(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn replay_skips_or_stops_at_bad_lines_and_orders_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    std::fs::write(&log, LOG).unwrap();
    let log_s = log.to_str().unwrap();

    let fatal = shroud(&["replay", "--log", log_s]);
    assert_eq!(fatal.status.code(), Some(2));
    let err = String::from_utf8_lossy(&fatal.stderr);
    assert!(err.contains("log line 3"), "{err}");
    assert!(fatal.stdout.is_empty());

    let state = dir.path().join("state");
    let ok = shroud(&[
        "replay",
        "--log",
        log_s,
        "--json",
        "--skip-bad-lines",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(
        err.contains("line 3") && err.contains("line 5") && err.contains("`ip`"),
        "{err}"
    );
    let out: Vec<serde_json::Value> = String::from_utf8(ok.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 2);
    // Time order, not file order; each line carries its input line number.
    assert_eq!(out[0]["line"], 2);
    assert_eq!(out[0]["user"], "a");
    assert_eq!(out[1]["line"], 1);
    for d in &out {
        let r = d["risk"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&r));
        assert!(d["level"].is_string() && d["tier"].is_string() && d["reasons"].is_array());
    }
    assert!(state.join("engine.state").exists());
    // A second run loads the state: user `a` now has one learned request.
    let again = shroud(&[
        "replay",
        "--log",
        log_s,
        "--skip-bad-lines",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("line 2 user=a risk="));
}

#[test]
fn replay_reports_policy_errors_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.ndjson");
    std::fs::write(&log, "").unwrap();
    let pol = dir.path().join("p.toml");
    std::fs::write(
        &pol,
        "version = \"x\"\n[[rules]]\nname = \"oops\"\ncondition = \"request.hour +\"\nfactor = 1.0\n",
    )
    .unwrap();
    let out = shroud(&[
        "replay",
        "--log",
        log.to_str().unwrap(),
        "--policy",
        pol.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rule `oops`"));
}

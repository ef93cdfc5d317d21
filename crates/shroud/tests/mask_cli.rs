//! The `shroud mask` / `shroud unmask` command line: exit codes, one-line errors, round trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn shroud(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shroud"))
        .args(args)
        .env_remove("SHROUD_MASK_KEYS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process may exit before reading (bad flags): a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn example() -> String {
    format!(
        "{}/../../examples/customers.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn masks_the_example() {
    let (code, out, err) = shroud(&["mask", "--level", "redact", &example()], b"");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["customers"][0]["number"], serde_json::Value::Null);
    assert_eq!(
        v["customers"][0]["payment_methods"][0]["number"],
        "**** **** **** 1111"
    );
    assert!(!out.contains("Jane Doe") && !out.contains("536-22-1234"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let (code, out, err) = shroud(&["mask", "--level", "redact"], b"{\"a\": [1, 2,\n ]}");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("line 2, column 2"), "{err}");
    let (code, _, err) = shroud(&["mask", "--level", "loud", "-"], b"{}");
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = shroud(&["mask", "--level", "tokenize", "-"], b"{}");
    assert_eq!(code, 2);
    assert!(err.contains("--vault"), "{err}");
    let (code, _, err) = shroud(&["mask", "--level", "redact", "/no/such/file.json"], b"");
    assert_eq!(code, 2);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn policy_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "[classes.pii]\nredact = \"none\"\n").unwrap();
    let (code, _, err) = shroud(
        &[
            "mask",
            "--level",
            "redact",
            "--policy",
            p.to_str().unwrap(),
            "-",
        ],
        b"{}",
    );
    assert_eq!(code, 2);
    assert!(err.contains("p.toml:2"), "{err}");
}

#[test]
fn tokenize_and_encrypt_round_trip_through_unmask() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        "active = \"k1\"\n[keys]\nk1 = \"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"\n",
    )
    .unwrap();
    let vault = dir.path().join("vault.redb");
    let input = std::fs::read(example()).unwrap();
    for level in ["tokenize", "encrypt"] {
        let (code, masked, err) = shroud(
            &[
                "mask",
                "--level",
                level,
                "--key-file",
                keys.to_str().unwrap(),
                "--vault",
                vault.to_str().unwrap(),
                "-",
            ],
            &input,
        );
        assert_eq!(code, 0, "{err}");
        assert!(!masked.contains("536-22-1234"));
        let (code, back, err) = shroud(
            &[
                "unmask",
                "--key-file",
                keys.to_str().unwrap(),
                "--vault",
                vault.to_str().unwrap(),
                "-",
            ],
            masked.as_bytes(),
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            back.trim_end(),
            String::from_utf8(input.clone()).unwrap().trim_end(),
            "{level}"
        );
    }
}

#[test]
fn ndjson_and_block() {
    let (code, out, _) = shroud(
        &["mask", "--level", "redact", "--ndjson"],
        b"{\"ssn\":\"536-22-1234\"}\n{\"x\":1}\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "{\"ssn\":\"***-**-1234\"}\n{\"x\":1}\n");
    let (code, out, err) = shroud(&["mask", "--level", "block"], b"{\"ssn\":\"536-22-1234\"}");
    assert_eq!(code, 0);
    assert!(out.contains("\"blocked\"") && !out.contains("536"));
    assert!(err.contains("blocked"), "{err}");
}

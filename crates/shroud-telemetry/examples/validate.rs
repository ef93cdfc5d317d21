//! Validates one telemetry batch read from stdin with the gateway's rules and
//! default limits: prints `ok N events` (exit 0) or the error as the gateway
//! would answer it (exit 2). The browser test pipes every batch the collector
//! sends through it.
//!
//! `cargo run -p shroud-telemetry --example validate [-- --encoding gzip|br] < batch.json`

use std::io::Read;
use std::process::ExitCode;
use std::time::SystemTime;

use shroud_telemetry::{ContentEncoding, Limits, decode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let encoding = match args.as_slice() {
        [] => None,
        [flag, v] if flag == "--encoding" => Some(v.as_str()),
        _ => {
            eprintln!("usage: validate [--encoding identity|gzip|br] < batch");
            return ExitCode::from(64);
        }
    };
    let encoding = match ContentEncoding::from_header(encoding) {
        Ok(e) => e,
        Err(e) => {
            println!("error {}: {e}", e.status().code());
            return ExitCode::from(2);
        }
    };
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("cannot read stdin: {e}");
        return ExitCode::from(66);
    }
    match decode(&body, encoding, &Limits::default(), SystemTime::now()) {
        Ok(batch) => {
            println!("ok {} events", batch.events.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error {}: {}", e.status().code(), e.response_body());
            ExitCode::from(2)
        }
    }
}

//! JSON-lines sinks (audit log, security alerts, traffic log). Lines are
//! handed to a dedicated writer thread so request tasks never block on disk;
//! the thread flushes whenever its queue runs dry, so lines reach the file
//! within milliseconds and none are dropped.

use std::{
    fs::OpenOptions,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::mpsc,
};

/// A JSON-lines file sink. Cloning shares the same writer.
#[derive(Debug, Clone)]
pub struct JsonLines {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    path: Option<PathBuf>,
}

impl JsonLines {
    /// A sink that discards everything (no file configured).
    pub fn disabled() -> Self {
        JsonLines {
            tx: None,
            path: None,
        }
    }

    /// Opens (appends to) `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let name = format!(
            "shroud-jsonl-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("log")
        );
        std::thread::Builder::new().name(name).spawn(move || {
            let mut w = BufWriter::new(file);
            while let Ok(line) = rx.recv() {
                let mut ok = w.write_all(&line).is_ok();
                while let Ok(line) = rx.try_recv() {
                    ok &= w.write_all(&line).is_ok();
                }
                if !ok || w.flush().is_err() {
                    tracing::error!("cannot write JSON-lines log");
                    metrics::counter!("shroud_log_write_errors_total").increment(1);
                }
            }
            let _ = w.flush();
        })?;
        Ok(JsonLines {
            tx: Some(tx),
            path: Some(path.to_path_buf()),
        })
    }

    /// Opens `path` if given, else a disabled sink.
    pub fn open_opt(path: Option<&Path>) -> std::io::Result<Self> {
        match path {
            Some(p) => Self::open(p),
            None => Ok(Self::disabled()),
        }
    }

    /// Whether lines are written anywhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// The file written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one JSON value as a line.
    pub fn write(&self, value: &serde_json::Value) {
        if let Some(tx) = &self.tx {
            let mut line = serde_json::to_vec(value).unwrap_or_default();
            line.push(b'\n');
            let _ = tx.send(line);
        }
    }
}

/// The current time in RFC 3339 (UTC, milliseconds).
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// A time in RFC 3339 (UTC, milliseconds).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_lines() {
        let p = std::env::temp_dir().join(format!(
            "shroud-jsonl-{}.jsonl",
            crate::decision::new_decision_id()
        ));
        let s = JsonLines::open(&p).unwrap();
        s.write(&serde_json::json!({"a":1}));
        s.write(&serde_json::json!({"b":2}));
        drop(s);
        for _ in 0..100 {
            let text = std::fs::read_to_string(&p).unwrap();
            if text.lines().count() == 2 {
                assert!(text.starts_with("{\"a\":1}\n"));
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("lines not written");
    }

    #[test]
    fn rfc3339_format() {
        let s = rfc3339(std::time::UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
    }
}

//! The NDJSON access-log schema (`docs/access-log.md`): one request per
//! line, read by `shroud replay` and writable by the gateway. Parsing is
//! field by field so every error names the field at fault; unknown fields
//! are ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::{BiometricEvidence, Enrollment, ExternalSignal, Geo, RequestContext};

/// Most bytes accepted on one log line by default.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// One access-log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Request time (RFC 3339).
    pub ts: DateTime<Utc>,
    /// User or API-key id.
    pub user: String,
    /// Client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Location, when the writer knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// IANA time zone of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// `User-Agent` header.
    #[serde(default)]
    pub user_agent: String,
    /// Application or API-key identifier.
    #[serde(default)]
    pub app: String,
    /// Route path.
    #[serde(default)]
    pub route: String,
    /// HTTP method.
    #[serde(default)]
    pub method: String,
    /// Upstream status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Records returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u32>,
    /// Data classes returned.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Biometric impostor score in [0, 1] (absent: no telemetry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_score: Option<f32>,
    /// Confidence of that score in [0, 1] (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_confidence: Option<f32>,
    /// Scores from other systems by name, each in [0, 1].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external: BTreeMap<String, f32>,
}

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// The line exceeds the configured limit.
    #[error("line is {len} bytes, over the limit of {max}")]
    TooLong {
        /// Line length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A field is missing or invalid.
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

fn field(field: &'static str, reason: impl Into<String>) -> LogError {
    LogError::Field {
        field,
        reason: reason.into(),
    }
}

fn opt_str<'a>(m: &'a Map<String, Value>, k: &'static str) -> Result<Option<&'a str>, LogError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field(k, "must be a string")),
    }
}

fn opt_num(m: &Map<String, Value>, k: &'static str) -> Result<Option<f64>, LogError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| field(k, "must be a finite number")),
        Some(_) => Err(field(k, "must be a number")),
    }
}

fn opt_uint(m: &Map<String, Value>, k: &'static str, max: u64) -> Result<Option<u64>, LogError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= max => Ok(Some(v)),
            _ => Err(field(k, format!("must be an integer in 0..={max}"))),
        },
        Some(_) => Err(field(k, "must be an integer")),
    }
}

fn unit_score(m: &Map<String, Value>, k: &'static str) -> Result<Option<f32>, LogError> {
    match opt_num(m, k)? {
        Some(v) if (0.0..=1.0).contains(&v) => Ok(Some(v as f32)),
        Some(v) => Err(field(k, format!("must be within [0, 1], got {v}"))),
        None => Ok(None),
    }
}

impl LogRecord {
    /// Parses one line (no trailing newline needed).
    pub fn parse(line: &str, max_bytes: usize) -> Result<Self, LogError> {
        if line.len() > max_bytes {
            return Err(LogError::TooLong {
                len: line.len(),
                max: max_bytes,
            });
        }
        let v: Value = serde_json::from_str(line).map_err(|e| LogError::Json(e.to_string()))?;
        let Value::Object(m) = v else {
            return Err(LogError::Json("the line is not an object".into()));
        };
        let ts_s = opt_str(&m, "ts")?.ok_or_else(|| field("ts", "is required"))?;
        let ts = DateTime::parse_from_rfc3339(ts_s)
            .map_err(|e| field("ts", format!("not RFC 3339 (`{ts_s}`): {e}")))?
            .with_timezone(&Utc);
        let user = opt_str(&m, "user")?.ok_or_else(|| field("user", "is required"))?;
        if user.is_empty() {
            return Err(field("user", "must not be empty"));
        }
        let ip = match opt_str(&m, "ip")? {
            Some(s) => Some(
                IpAddr::from_str(s)
                    .map_err(|_| field("ip", format!("not an IP address: `{s}`")))?,
            ),
            None => None,
        };
        let geo = match m.get("geo") {
            None | Some(Value::Null) => None,
            Some(Value::Object(g)) => {
                let country = opt_str(g, "country")?
                    .ok_or_else(|| field("geo.country", "is required when geo is given"))?;
                let lat = opt_num(g, "lat")?;
                let lon = opt_num(g, "lon")?;
                if lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
                    return Err(field("geo.lat", "must be within [-90, 90]"));
                }
                if lon.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
                    return Err(field("geo.lon", "must be within [-180, 180]"));
                }
                Some(Geo {
                    country: country.to_ascii_uppercase(),
                    city: opt_str(g, "city")?.map(str::to_owned),
                    lat,
                    lon,
                })
            }
            Some(_) => return Err(field("geo", "must be an object")),
        };
        let tz = match opt_str(&m, "tz")? {
            Some(s) => {
                chrono_tz::Tz::from_str(s)
                    .map_err(|_| field("tz", format!("unknown IANA time zone `{s}`")))?;
                Some(s.to_owned())
            }
            None => None,
        };
        let classes = match m.get("classes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| field("classes", "must be an array of strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(field("classes", "must be an array of strings")),
        };
        let external = match m.get("external") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(e)) => {
                let mut out = BTreeMap::new();
                for (k, v) in e {
                    match v.as_f64() {
                        Some(s) if (0.0..=1.0).contains(&s) => {
                            out.insert(k.clone(), s as f32);
                        }
                        _ => return Err(field("external", format!("`{k}` must be within [0, 1]"))),
                    }
                }
                out
            }
            Some(_) => return Err(field("external", "must be an object of scores")),
        };
        Ok(Self {
            ts,
            user: user.to_owned(),
            ip,
            geo,
            tz,
            user_agent: opt_str(&m, "user_agent")?.unwrap_or("").to_owned(),
            app: opt_str(&m, "app")?.unwrap_or("").to_owned(),
            route: opt_str(&m, "route")?.unwrap_or("").to_owned(),
            method: opt_str(&m, "method")?.unwrap_or("").to_owned(),
            status: opt_uint(&m, "status", 999)?.map(|v| v as u16),
            records: opt_uint(&m, "records", u64::from(u32::MAX))?.map(|v| v as u32),
            classes,
            biometric_score: unit_score(&m, "biometric_score")?,
            biometric_confidence: unit_score(&m, "biometric_confidence")?,
            external,
        })
    }

    /// Borrows the record as an engine input. `classes` and `external` are
    /// scratch buffers owned by the caller (so the record is not copied).
    pub fn context<'a>(
        &'a self,
        classes: &'a mut Vec<&'a str>,
        external: &'a mut Vec<ExternalSignal<'a>>,
    ) -> RequestContext<'a> {
        classes.clear();
        classes.extend(self.classes.iter().map(String::as_str));
        external.clear();
        external.extend(self.external.iter().map(|(n, s)| ExternalSignal {
            name: n.as_str(),
            score: *s,
        }));
        RequestContext {
            user: &self.user,
            ip: self.ip,
            geo: self.geo.as_ref(),
            tz: self
                .tz
                .as_deref()
                .and_then(|s| chrono_tz::Tz::from_str(s).ok()),
            user_agent: &self.user_agent,
            client_hints: "",
            app: &self.app,
            route: &self.route,
            method: &self.method,
            status: self.status,
            records: self.records,
            classes,
            biometric: self.biometric_score.map(|score| BiometricEvidence {
                score,
                confidence: self.biometric_confidence.unwrap_or(1.0),
                enrollment: Enrollment::Enrolled,
                top_features: &[],
            }),
            external,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const GOOD: &str = r#"{"ts":"2026-11-02T09:15:00+01:00","user":"u1","ip":"203.0.113.9","geo":{"country":"de","city":"Berlin","lat":52.5,"lon":13.4},"tz":"Europe/Berlin","user_agent":"Mozilla/5.0","app":"crm","route":"/api/customers/17","method":"GET","status":200,"records":3,"classes":["email"],"biometric_score":0.1,"extra":"ignored"}"#;

    #[test]
    fn parses_a_full_line_and_ignores_unknown_fields() {
        let r = LogRecord::parse(GOOD, DEFAULT_MAX_LINE_BYTES).unwrap();
        assert_eq!(r.user, "u1");
        assert_eq!(r.ts.to_rfc3339(), "2026-11-02T08:15:00+00:00");
        assert_eq!(r.geo.as_ref().unwrap().country, "DE");
        assert_eq!(r.records, Some(3));
        let (mut c, mut e) = (Vec::new(), Vec::new());
        let ctx = r.context(&mut c, &mut e);
        assert_eq!(ctx.classes, &["email"]);
        assert!(ctx.biometric.is_some());
    }

    #[test]
    fn minimal_line_is_enough() {
        let r = LogRecord::parse(r#"{"ts":"2026-11-02T09:15:00Z","user":"u"}"#, 1000).unwrap();
        assert!(r.ip.is_none() && r.records.is_none() && r.classes.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"user":"u"}"#, "`ts`"),
            (r#"{"ts":"yesterday","user":"u"}"#, "`ts`"),
            (r#"{"ts":"2026-11-02T09:15:00Z"}"#, "`user`"),
            (r#"{"ts":"2026-11-02T09:15:00Z","user":""}"#, "`user`"),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","ip":"999.1.1.1"}"#,
                "`ip`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","tz":"Moon/Base"}"#,
                "`tz`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","records":-3}"#,
                "`records`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","status":"ok"}"#,
                "`status`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","classes":[1]}"#,
                "`classes`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","geo":{"lat":1}}"#,
                "`geo.country`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","geo":{"country":"X","lat":91}}"#,
                "`geo.lat`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","biometric_score":1.5}"#,
                "`biometric_score`",
            ),
            (
                r#"{"ts":"2026-11-02T09:15:00Z","user":"u","external":{"a":2}}"#,
                "`external`",
            ),
        ];
        for (line, want) in cases {
            let e = LogRecord::parse(line, 10_000).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
        assert!(matches!(
            LogRecord::parse("[1]", 100),
            Err(LogError::Json(_))
        ));
        assert!(matches!(LogRecord::parse("{", 100), Err(LogError::Json(_))));
        assert!(matches!(
            LogRecord::parse(GOOD, 10),
            Err(LogError::TooLong { .. })
        ));
    }

    #[test]
    fn serialized_records_parse_back() {
        let r = LogRecord::parse(GOOD, DEFAULT_MAX_LINE_BYTES).unwrap();
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(LogRecord::parse(&line, DEFAULT_MAX_LINE_BYTES).unwrap(), r);
    }
}

//! The gateway configuration (`shroud.toml`): every field, its default, and
//! validation that names the offending field. `docs/config.md` documents the
//! same fields one by one; `examples/shroud.toml` is a complete example.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::decision::{Level, Tier};

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown/mistyped fields.
    #[error("invalid config: {0}")]
    Parse(String),
    /// A field has a value that cannot work.
    #[error("invalid config field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// Why.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Application name reported in decisions and traffic logs.
    #[serde(default = "default_app")]
    pub app: String,
    /// The data listener.
    pub listen: ListenConfig,
    /// Global limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Upstream client settings shared by all pools.
    #[serde(default)]
    pub upstream: UpstreamConfig,
    /// Upstream pools by tier (`normal` is required).
    pub tiers: BTreeMap<Tier, PoolConfig>,
    /// Extra rules of the suspicious tier.
    #[serde(default)]
    pub suspicious: SuspiciousConfig,
    /// Who the caller is.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// How decisions are obtained and what happens when that fails.
    #[serde(default)]
    pub decision: DecisionConfig,
    /// What happens to response bodies.
    #[serde(default)]
    pub masking: MaskingConfig,
    /// Masked response cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Named routes (path prefixes), most specific first.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The management listener (absent: no management API).
    #[serde(default)]
    pub management: Option<ManagementConfig>,
    /// JSON-lines log files.
    #[serde(default)]
    pub logs: LogsConfig,
}

fn default_app() -> String {
    "default".into()
}

/// The data listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the listener speaks TLS 1.3 only.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Accept HTTP/2 (h2 via ALPN on TLS, prior knowledge on plain TCP).
    #[serde(default = "yes")]
    pub http2: bool,
    /// Time allowed to receive a request's headers (slowloris guard).
    #[serde(default = "d5000")]
    pub header_read_timeout_ms: u64,
    /// Time allowed for a TLS handshake.
    #[serde(default = "d5000")]
    pub tls_handshake_timeout_ms: u64,
}

fn yes() -> bool {
    true
}
fn d5000() -> u64 {
    5000
}

/// Global limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests processed at once; more are shed with 503 + Retry-After.
    pub max_concurrency: usize,
    /// Seconds announced in Retry-After when shedding or rate limiting.
    pub retry_after_secs: u64,
    /// Largest request body forwarded (413 beyond).
    pub max_request_body_bytes: usize,
    /// Largest upstream response body that is masked (502 beyond; never passed unmasked).
    pub max_response_body_bytes: usize,
    /// Longest wait for the next chunk of a request body.
    pub request_body_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests to finish.
    pub shutdown_grace_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_concurrency: 10_000,
            retry_after_secs: 1,
            max_request_body_bytes: 10 << 20,
            max_response_body_bytes: 8 << 20,
            request_body_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// Upstream client settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// TCP connect timeout.
    pub connect_timeout_ms: u64,
    /// Time until the upstream's response headers arrive.
    pub response_timeout_ms: u64,
    /// Longest wait for the next chunk of a response body.
    pub body_timeout_ms: u64,
    /// Idle keep-alive connections are closed after this.
    pub pool_idle_timeout_ms: u64,
    /// Idle keep-alive connections kept per upstream.
    pub pool_max_idle_per_host: usize,
    /// Send the client's Host header upstream (else the upstream's authority).
    pub preserve_host: bool,
    /// Forward the client's `Authorization` header upstream.
    pub forward_authorization: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            body_timeout_ms: 30_000,
            pool_idle_timeout_ms: 90_000,
            pool_max_idle_per_host: 1024,
            preserve_host: false,
            forward_authorization: true,
        }
    }
}

/// Load balancing inside a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each healthy upstream in turn.
    RoundRobin,
    /// Power of two choices: the less loaded of two random upstreams.
    P2c,
    /// Consistent hashing by user: a user sticks to one upstream.
    ConsistentHash,
}

/// One tier's upstream pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Upstream base URLs (`http://host:port`).
    pub upstreams: Vec<String>,
    /// Load balancing.
    #[serde(default = "default_balance")]
    pub balance: Balance,
    /// Active health checks (absent: none).
    #[serde(default)]
    pub health: Option<HealthConfig>,
    /// Passive ejection of failing upstreams.
    #[serde(default)]
    pub ejection: EjectionConfig,
}

fn default_balance() -> Balance {
    Balance::RoundRobin
}

/// Active health checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Path requested with GET; 2xx is healthy.
    pub path: String,
    /// Time between checks.
    #[serde(default = "d2000")]
    pub interval_ms: u64,
    /// Timeout of one check.
    #[serde(default = "d1000")]
    pub timeout_ms: u64,
    /// Consecutive failed checks before an upstream is marked down.
    #[serde(default = "d2")]
    pub unhealthy_after: u32,
    /// Consecutive good checks before it is marked up again.
    #[serde(default = "d2")]
    pub healthy_after: u32,
}

fn d2000() -> u64 {
    2000
}
fn d1000() -> u64 {
    1000
}
fn d2() -> u32 {
    2
}

/// Passive ejection: consecutive failures of live traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EjectionConfig {
    /// Consecutive failures (connect error, timeout, 502/503/504) before ejection; 0 disables.
    pub consecutive_failures: u32,
    /// How long an ejected upstream receives no traffic.
    pub eject_ms: u64,
}

impl Default for EjectionConfig {
    fn default() -> Self {
        EjectionConfig {
            consecutive_failures: 5,
            eject_ms: 10_000,
        }
    }
}

/// Extra rules of the suspicious tier.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuspiciousConfig {
    /// Sustained requests per second allowed per user.
    pub rate_per_second: u32,
    /// Burst allowed per user.
    pub burst: u32,
    /// Step-up challenge (absent: none).
    pub step_up: Option<StepUpConfig>,
}

impl Default for SuspiciousConfig {
    fn default() -> Self {
        SuspiciousConfig {
            rate_per_second: 2,
            burst: 5,
            step_up: None,
        }
    }
}

/// The step-up challenge of the suspicious tier (see `docs/gateway.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpConfig {
    /// File holding the secret that signs challenges (at least 32 bytes).
    pub secret_file: PathBuf,
    /// How long a challenge can be answered.
    #[serde(default = "d120")]
    pub challenge_ttl_secs: u64,
    /// How long a passed step-up lets the session through.
    #[serde(default = "d600")]
    pub valid_secs: u64,
    /// Oldest `iat` accepted for the step-up JWT.
    #[serde(default = "d300")]
    pub max_token_age_secs: u64,
}

fn d120() -> u64 {
    120
}
fn d300() -> u64 {
    300
}
fn d600() -> u64 {
    600
}

/// Requests without identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousPolicy {
    /// 401.
    Reject,
    /// Admitted as user `anonymous`, masked at least at `anonymous_min_level`.
    Allow,
}

/// Identity settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// What to do with requests without identity.
    pub anonymous: AnonymousPolicy,
    /// Lowest level given to anonymous requests.
    pub anonymous_min_level: Level,
    /// Header carrying an API key.
    pub api_key_header: String,
    /// JWT verification (absent: no JWTs accepted).
    pub jwt: Option<JwtConfig>,
    /// Accepted API keys, stored as SHA-256 hashes.
    pub api_keys: Vec<ApiKeyConfig>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            anonymous: AnonymousPolicy::Reject,
            anonymous_min_level: Level::Redact,
            api_key_header: "x-api-key".into(),
            jwt: None,
            api_keys: Vec::new(),
        }
    }
}

/// JWT verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted algorithms: any of `HS256`, `RS256`, `ES256`.
    pub algorithms: Vec<String>,
    /// Shared secret file (HS256).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// PEM public key file (RS256 / ES256).
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// JWKS file (keys selected by `kid`).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of).
    pub audience: Vec<String>,
    /// Clock skew tolerated on `exp`/`nbf`.
    #[serde(default = "d30")]
    pub leeway_secs: u64,
}

fn d30() -> u64 {
    30
}

/// One API key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The user the key authenticates.
    pub user: String,
    /// Hex SHA-256 of the key (`printf %s KEY | sha256sum`).
    pub sha256: String,
}

/// Decision settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// Longest wait for the risk engine.
    pub timeout_ms: u64,
    /// Level given when the engine fails or times out (`block` refuses).
    pub fallback_level: Level,
    /// Tier used when the engine fails or times out.
    pub fallback_tier: Tier,
    /// Decisions are reused per session this long (0 disables).
    pub cache_ttl_ms: u64,
    /// Most cached decisions.
    pub cache_max_entries: u64,
    /// Level of the built-in static engine (used when no scoring engine is built in).
    pub static_level: Level,
    /// Tier of the built-in static engine.
    pub static_tier: Tier,
    /// Policy version reported by the static engine.
    pub policy_version: String,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            timeout_ms: 50,
            fallback_level: Level::Redact,
            fallback_tier: Tier::Normal,
            cache_ttl_ms: 2_000,
            cache_max_entries: 100_000,
            static_level: Level::Redact,
            static_tier: Tier::Normal,
            policy_version: "static-1".into(),
        }
    }
}

/// What happens to non-JSON bodies when masking applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonJsonPolicy {
    /// Sent as is.
    Pass,
    /// Replaced by a 403 JSON error.
    Block,
}

/// What happens to `image/*` bodies when masking applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImagePolicy {
    /// Sent as is.
    Pass,
    /// Replaced by a 403 JSON error.
    Block,
    /// Pixelated (PNG and JPEG; other formats are blocked).
    Pixelate,
}

/// Response masking settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    /// Non-JSON, non-image bodies.
    pub non_json: NonJsonPolicy,
    /// `image/*` bodies.
    pub images: ImagePolicy,
    /// Pixel block size of pixelation.
    pub pixelate_block: u32,
    /// Treat bodies that look like JSON (`{` or `[` first) as JSON whatever their Content-Type.
    pub sniff_json: bool,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            non_json: NonJsonPolicy::Pass,
            images: ImagePolicy::Pixelate,
            pixelate_block: 16,
            sniff_json: true,
        }
    }
}

/// Masked response cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// On or off.
    pub enabled: bool,
    /// Most entries.
    pub max_entries: u64,
    /// Largest body cached.
    pub max_entry_bytes: usize,
    /// Upper bound of an entry's lifetime, whatever the upstream says.
    pub max_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_entries: 10_000,
            max_entry_bytes: 1 << 20,
            max_ttl_secs: 300,
        }
    }
}

/// A named route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix matched.
    pub prefix: String,
    /// Route name (given to the masker's policy and the logs).
    pub name: String,
    /// Application name for this route (default: top-level `app`).
    #[serde(default)]
    pub app: Option<String>,
}

/// The management listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementConfig {
    /// Address, e.g. `127.0.0.1:9090`.
    pub addr: SocketAddr,
    /// Bearer tokens and their scopes.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

/// A management bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name written to the audit log.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// Scopes: `admin`, `read`, `detokenize`.
    pub scopes: Vec<String>,
}

/// JSON-lines log files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Every decision and admin action.
    pub audit: Option<PathBuf>,
    /// Security alerts (high-risk requests).
    pub alerts: Option<PathBuf>,
    /// Traffic in the access-log schema of `shroud replay`.
    pub traffic: Option<PathBuf>,
}

/// The scopes a management token may carry.
pub const SCOPES: [&str; 3] = ["admin", "read", "detokenize"];

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::from_toml(&text)?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Parses and validates a config from TOML text (paths stay as written).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Makes relative file paths relative to the config file's directory.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let fix_opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        fix_opt(&mut self.listen.tls_cert);
        fix_opt(&mut self.listen.tls_key);
        if let Some(j) = &mut self.identity.jwt {
            fix_opt(&mut j.secret_file);
            fix_opt(&mut j.public_key_file);
            fix_opt(&mut j.jwks_file);
        }
        if let Some(s) = &mut self.suspicious.step_up {
            fix(&mut s.secret_file);
        }
        fix_opt(&mut self.logs.audit);
        fix_opt(&mut self.logs.alerts);
        fix_opt(&mut self.logs.traffic);
    }

    /// Checks values serde cannot check.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.tls_cert.is_some() != self.listen.tls_key.is_some() {
            return Err(invalid(
                "listen.tls_cert",
                "tls_cert and tls_key must be given together",
            ));
        }
        if self.limits.max_concurrency == 0 {
            return Err(invalid("limits.max_concurrency", "must be at least 1"));
        }
        if !self.tiers.contains_key(&Tier::Normal) {
            return Err(invalid("tiers.normal", "the normal pool is required"));
        }
        for (tier, pool) in &self.tiers {
            let field = format!("tiers.{tier}.upstreams");
            if pool.upstreams.is_empty() {
                return Err(invalid(field, "needs at least one upstream"));
            }
            for u in &pool.upstreams {
                parse_upstream(u).map_err(|reason| invalid(&field, reason))?;
            }
            if let Some(h) = &pool.health {
                if !h.path.starts_with('/') {
                    return Err(invalid(
                        format!("tiers.{tier}.health.path"),
                        "must start with `/`",
                    ));
                }
                if h.interval_ms == 0 || h.unhealthy_after == 0 || h.healthy_after == 0 {
                    return Err(invalid(
                        format!("tiers.{tier}.health"),
                        "interval_ms, unhealthy_after and healthy_after must be at least 1",
                    ));
                }
            }
        }
        if self.suspicious.rate_per_second == 0 || self.suspicious.burst == 0 {
            return Err(invalid(
                "suspicious.rate_per_second",
                "rate_per_second and burst must be at least 1",
            ));
        }
        if let Some(j) = &self.identity.jwt {
            if j.algorithms.is_empty() {
                return Err(invalid(
                    "identity.jwt.algorithms",
                    "needs at least one of HS256, RS256, ES256",
                ));
            }
            for a in &j.algorithms {
                if !["HS256", "RS256", "ES256"].contains(&a.as_str()) {
                    return Err(invalid(
                        "identity.jwt.algorithms",
                        format!("`{a}` is not one of HS256, RS256, ES256"),
                    ));
                }
            }
            let sources = [
                j.secret_file.is_some(),
                j.public_key_file.is_some(),
                j.jwks_file.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err(invalid(
                    "identity.jwt",
                    "give exactly one of secret_file, public_key_file, jwks_file",
                ));
            }
            if j.audience.is_empty() {
                return Err(invalid(
                    "identity.jwt.audience",
                    "needs at least one audience",
                ));
            }
        }
        for (i, k) in self.identity.api_keys.iter().enumerate() {
            check_sha256(&k.sha256)
                .map_err(|r| invalid(format!("identity.api_keys[{i}].sha256"), r))?;
            if k.user.is_empty() {
                return Err(invalid(
                    format!("identity.api_keys[{i}].user"),
                    "must not be empty",
                ));
            }
        }
        if self
            .identity
            .api_key_header
            .parse::<http::HeaderName>()
            .is_err()
        {
            return Err(invalid(
                "identity.api_key_header",
                "not a valid header name",
            ));
        }
        if self.decision.timeout_ms == 0 {
            return Err(invalid("decision.timeout_ms", "must be at least 1"));
        }
        if self.masking.pixelate_block < 2 {
            return Err(invalid("masking.pixelate_block", "must be at least 2"));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !r.prefix.starts_with('/') {
                return Err(invalid(
                    format!("routes[{i}].prefix"),
                    "must start with `/`",
                ));
            }
        }
        if let Some(m) = &self.management {
            for (i, t) in m.tokens.iter().enumerate() {
                check_sha256(&t.sha256)
                    .map_err(|r| invalid(format!("management.tokens[{i}].sha256"), r))?;
                for s in &t.scopes {
                    if !SCOPES.contains(&s.as_str()) {
                        return Err(invalid(
                            format!("management.tokens[{i}].scopes"),
                            format!("unknown scope `{s}` (expected admin, read or detokenize)"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_sha256(hex_str: &str) -> Result<(), String> {
    if hex_str.len() == 64 && hex_str.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("must be 64 hex digits (a SHA-256)".into())
    }
}

/// Parses an upstream base URL into (authority, base path).
pub fn parse_upstream(url: &str) -> Result<http::uri::Authority, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "`{url}`: scheme `{other}` not supported for upstreams (only http; terminate TLS in front of the upstream)"
            ));
        }
        None => {
            return Err(format!(
                "`{url}` needs a scheme, e.g. http://127.0.0.1:9000"
            ));
        }
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(format!("`{url}`: upstream URLs cannot have a path"));
    }
    uri.authority()
        .cloned()
        .ok_or_else(|| format!("`{url}` has no host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
        [listen]
        addr = "127.0.0.1:0"
        [tiers.normal]
        upstreams = ["http://127.0.0.1:9000"]
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::from_toml(MIN).unwrap();
        assert_eq!(c.decision.fallback_level, Level::Redact);
        assert_eq!(c.identity.anonymous, AnonymousPolicy::Reject);
        assert_eq!(c.tiers[&Tier::Normal].balance, Balance::RoundRobin);
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            Config::from_toml(&MIN.replace("http://127.0.0.1:9000", "https://x:1")).unwrap_err();
        assert!(e.to_string().contains("tiers.normal.upstreams"), "{e}");
        let e = Config::from_toml(&format!("{MIN}\n[decision]\nfallback_level = \"blurry\""))
            .unwrap_err();
        assert!(
            e.to_string().contains("fallback_level") || e.to_string().contains("blurry"),
            "{e}"
        );
        let e = Config::from_toml(&format!("{MIN}\n[limits]\nmax_concurency = 3")).unwrap_err();
        assert!(e.to_string().contains("max_concurency"), "{e}");
        let e = Config::from_toml(
            "[listen]\naddr = \"127.0.0.1:0\"\n[tiers.suspicious]\nupstreams = [\"http://a:1\"]",
        )
        .unwrap_err();
        assert!(e.to_string().contains("tiers.normal"), "{e}");
    }
}

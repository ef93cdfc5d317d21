//! The step-up challenge of the suspicious tier.
//!
//! Protocol (also in `docs/gateway.md`):
//! 1. A suspicious request without a passed step-up gets `401` with
//!    `WWW-Authenticate: Shroud-StepUp challenge="<c>"` and the JSON body
//!    `{"error":"step_up_required","challenge":"<c>","expires_at":<unix>}`.
//!    The challenge is `<expiry>.<nonce>.<mac>`, an HMAC-SHA256 under the
//!    gateway's step-up secret bound to the user and session, so the gateway
//!    keeps no state per challenge.
//! 2. The client has its identity provider re-authenticate the user (MFA) and
//!    issue a fresh JWT (same issuer/audience/keys as normal tokens) whose
//!    `sub` is the user, whose `iat` is recent and whose `shroud_challenge`
//!    claim is `<c>`.
//! 3. The client retries the request with that JWT in `X-Shroud-Step-Up`.
//!    The gateway verifies it, and the session then passes for `valid_secs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::{
    config::StepUpConfig,
    identity::{Identity, JwtVerifier},
};

/// The header carrying the step-up answer.
pub const STEP_UP_HEADER: &str = "x-shroud-step-up";

/// Why a step-up answer was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StepUpError {
    /// The answer JWT is invalid.
    #[error("step-up token invalid: {0}")]
    Token(String),
    /// The JWT is for another user.
    #[error("step-up token is for another user")]
    WrongUser,
    /// The JWT does not carry a challenge issued for this user and session.
    #[error("step-up token does not answer a valid challenge")]
    BadChallenge,
    /// The challenge expired.
    #[error("challenge expired")]
    Expired,
    /// The JWT was issued too long ago.
    #[error("step-up token is not fresh (iat too old or missing)")]
    Stale,
}

/// Issues and checks challenges; remembers sessions that passed.
pub struct StepUp {
    secret: Vec<u8>,
    cfg: StepUpConfig,
    passed: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for StepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepUp").finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StepUp {
    /// Reads the secret file.
    pub fn new(cfg: &StepUpConfig) -> Result<Self, String> {
        let secret = std::fs::read(&cfg.secret_file).map_err(|e| {
            format!(
                "suspicious.step_up.secret_file: cannot read {}: {e}",
                cfg.secret_file.display()
            )
        })?;
        let secret = secret.trim_ascii().to_vec();
        if secret.len() < 32 {
            return Err(
                "suspicious.step_up.secret_file: the secret must be at least 32 bytes".into(),
            );
        }
        Ok(Self::with_secret(secret, cfg.clone()))
    }

    /// From a secret in memory.
    pub fn with_secret(secret: Vec<u8>, cfg: StepUpConfig) -> Self {
        let passed = moka::sync::Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(Duration::from_secs(cfg.valid_secs))
            .build();
        StepUp {
            secret,
            cfg,
            passed,
        }
    }

    fn mac(&self, id: &Identity, exp: u64, nonce: &str) -> String {
        // `new_from_slice` only fails for zero-length keys with some MACs; HMAC accepts any length.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        m.update(b"shroud-step-up-v1\0");
        m.update(id.session_key().as_bytes());
        m.update(format!("\0{exp}\0{nonce}").as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// A new challenge for this identity and its expiry (unix seconds).
    pub fn challenge(&self, id: &Identity) -> (String, u64) {
        let exp = unix_now() + self.cfg.challenge_ttl_secs;
        let mut n = [0u8; 16];
        rand::rng().fill_bytes(&mut n);
        let nonce = hex::encode(n);
        let mac = self.mac(id, exp, &nonce);
        (format!("{exp}.{nonce}.{mac}"), exp)
    }

    /// Whether this session passed a step-up recently.
    pub fn passed(&self, id: &Identity) -> bool {
        self.passed.contains_key(&id.session_key())
    }

    /// Checks a step-up answer; on success the session passes for `valid_secs`.
    pub fn answer(
        &self,
        id: &Identity,
        token: &str,
        verifier: &JwtVerifier,
    ) -> Result<(), StepUpError> {
        let claims = verifier
            .verify(token)
            .map_err(|e| StepUpError::Token(e.to_string()))?;
        if claims.sub != id.user {
            return Err(StepUpError::WrongUser);
        }
        let challenge = claims.shroud_challenge.ok_or(StepUpError::BadChallenge)?;
        let mut parts = challenge.splitn(3, '.');
        let (Some(exp), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StepUpError::BadChallenge);
        };
        let exp: u64 = exp.parse().map_err(|_| StepUpError::BadChallenge)?;
        let want = self.mac(id, exp, nonce);
        // Constant-time comparison of the MACs.
        let same = want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(StepUpError::BadChallenge);
        }
        let now = unix_now();
        if exp < now {
            return Err(StepUpError::Expired);
        }
        match claims.iat {
            Some(iat) if iat + self.cfg.max_token_age_secs >= now => {}
            _ => return Err(StepUpError::Stale),
        }
        self.passed.insert(id.session_key(), ());
        Ok(())
    }
}

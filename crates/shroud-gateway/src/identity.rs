//! Identity: who is asking. A verified JWT (HS256/RS256/ES256, issuer and
//! audience checked, keys from a secret/PEM file or a JWKS file) or an API key
//! (stored hashed in the config). Requests without identity are rejected or
//! admitted as `anonymous`, per policy.

use std::collections::HashMap;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    config::{AnonymousPolicy, IdentityConfig, JwtConfig},
    decision::AuthMethod,
};

/// The authenticated caller, stored in request (and response) extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// User id (`sub` of the JWT, the API key's user, or `anonymous`).
    pub user: String,
    /// Session id (JWT `sid`), when present.
    pub session: Option<String>,
    /// How the user was authenticated.
    pub method: AuthMethod,
}

impl Identity {
    /// The key decisions are cached under: the session when known, else the user.
    pub fn session_key(&self) -> String {
        match &self.session {
            Some(s) => format!("{}\u{1f}{}", self.user, s),
            None => self.user.clone(),
        }
    }
}

/// Why a request has no acceptable identity (the message goes to the client).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No credentials and anonymous access is off.
    #[error("credentials required: send `Authorization: Bearer <jwt>` or an API key")]
    Missing,
    /// A JWT was given but is not valid.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// An API key was given but is unknown.
    #[error("unknown API key")]
    UnknownApiKey,
}

/// Setting identity up failed (bad key file, bad JWKS).
#[derive(Debug, thiserror::Error)]
#[error("identity config `{field}`: {reason}")]
pub struct IdentitySetupError {
    /// Config field.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Claims read from a JWT.
#[derive(Debug, Deserialize)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// Session id.
    #[serde(default)]
    pub sid: Option<String>,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: Option<u64>,
    /// Step-up answer: the challenge this token answers.
    #[serde(default)]
    pub shroud_challenge: Option<String>,
}

/// Verifies JWTs.
pub struct JwtVerifier {
    keys: Vec<(Option<String>, DecodingKey, Vec<Algorithm>)>,
    validation: Validation,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn alg_of(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

impl JwtVerifier {
    /// Loads keys as the config says.
    pub fn new(cfg: &JwtConfig) -> Result<Self, IdentitySetupError> {
        let err = |field: &str, reason: String| IdentitySetupError {
            field: field.into(),
            reason,
        };
        let algorithms: Vec<Algorithm> = cfg.algorithms.iter().filter_map(|a| alg_of(a)).collect();
        let read = |field: &str, p: &std::path::Path| {
            std::fs::read(p).map_err(|e| err(field, format!("cannot read {}: {e}", p.display())))
        };
        let mut keys = Vec::new();
        if let Some(p) = &cfg.secret_file {
            let secret = read("identity.jwt.secret_file", p)?;
            let secret = secret.trim_ascii();
            if secret.len() < 32 {
                return Err(err(
                    "identity.jwt.secret_file",
                    "secret must be at least 32 bytes".into(),
                ));
            }
            keys.push((
                None,
                DecodingKey::from_secret(secret),
                vec![Algorithm::HS256],
            ));
        }
        if let Some(p) = &cfg.public_key_file {
            let pem = read("identity.jwt.public_key_file", p)?;
            let mut loaded = false;
            if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                keys.push((None, k, vec![Algorithm::RS256]));
                loaded = true;
            }
            if !loaded && let Ok(k) = DecodingKey::from_ec_pem(&pem) {
                keys.push((None, k, vec![Algorithm::ES256]));
                loaded = true;
            }
            if !loaded {
                return Err(err(
                    "identity.jwt.public_key_file",
                    format!("{} is not an RSA or EC public key in PEM", p.display()),
                ));
            }
        }
        if let Some(p) = &cfg.jwks_file {
            let text = read("identity.jwt.jwks_file", p)?;
            let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
                err(
                    "identity.jwt.jwks_file",
                    format!("not a JWKS document: {e}"),
                )
            })?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| err("identity.jwt.jwks_file", format!("unusable key: {e}")))?;
                let algs = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => vec![Algorithm::RS256],
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                        vec![Algorithm::ES256]
                    }
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => vec![Algorithm::HS256],
                    _ => continue,
                };
                keys.push((jwk.common.key_id.clone(), key, algs));
            }
            if keys.is_empty() {
                return Err(err("identity.jwt.jwks_file", "no usable key".into()));
            }
        }
        let mut validation =
            Validation::new(algorithms.first().copied().unwrap_or(Algorithm::RS256));
        validation.algorithms = algorithms.clone();
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&cfg.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = cfg.leeway_secs;
        validation.validate_nbf = true;
        Ok(JwtVerifier {
            keys,
            validation,
            algorithms,
        })
    }

    /// Verifies a compact JWT and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let mut last = AuthError::InvalidToken("no key for this token".into());
        for (kid, key, algs) in &self.keys {
            if !algs.contains(&header.alg) {
                continue;
            }
            if let (Some(want), Some(have)) = (&header.kid, kid)
                && want != have
            {
                continue;
            }
            let mut v = self.validation.clone();
            v.algorithms = vec![header.alg];
            match jsonwebtoken::decode::<Claims>(token, key, &v) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = AuthError::InvalidToken(e.to_string()),
            }
        }
        Err(last)
    }
}

/// Authenticates requests.
#[derive(Debug)]
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    api_keys: HashMap<[u8; 32], String>,
    api_key_header: http::HeaderName,
    anonymous: AnonymousPolicy,
}

/// SHA-256 of a secret, as stored in configs.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Authenticator {
    /// Builds the authenticator (reads key files).
    pub fn new(cfg: &IdentityConfig) -> Result<Self, IdentitySetupError> {
        let jwt = cfg.jwt.as_ref().map(JwtVerifier::new).transpose()?;
        let mut api_keys = HashMap::new();
        for (i, k) in cfg.api_keys.iter().enumerate() {
            let mut h = [0u8; 32];
            hex::decode_to_slice(&k.sha256, &mut h).map_err(|e| IdentitySetupError {
                field: format!("identity.api_keys[{i}].sha256"),
                reason: e.to_string(),
            })?;
            api_keys.insert(h, k.user.clone());
        }
        let api_key_header = cfg.api_key_header.parse().map_err(|_| IdentitySetupError {
            field: "identity.api_key_header".into(),
            reason: "not a header name".into(),
        })?;
        Ok(Authenticator {
            jwt,
            api_keys,
            api_key_header,
            anonymous: cfg.anonymous,
        })
    }

    /// The JWT verifier, if JWTs are configured (the step-up check reuses it).
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    /// The header carrying API keys (stripped before forwarding).
    pub fn api_key_header(&self) -> &http::HeaderName {
        &self.api_key_header
    }

    /// Who sent these headers.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
            let auth = auth
                .to_str()
                .map_err(|_| AuthError::InvalidToken("non-ASCII Authorization".into()))?;
            if let Some(token) = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
            {
                let verifier = self.jwt.as_ref().ok_or_else(|| {
                    AuthError::InvalidToken("bearer tokens are not accepted here".into())
                })?;
                let claims = verifier.verify(token.trim())?;
                return Ok(Identity {
                    user: claims.sub,
                    session: claims.sid,
                    method: AuthMethod::Jwt,
                });
            }
        }
        if let Some(key) = headers.get(&self.api_key_header) {
            // A hash-map lookup on the SHA-256 of the key: the stored value is
            // the hash, so no timing on the key itself leaks.
            return match self.api_keys.get(&sha256(key.as_bytes())) {
                Some(user) => Ok(Identity {
                    user: user.clone(),
                    session: None,
                    method: AuthMethod::ApiKey,
                }),
                None => Err(AuthError::UnknownApiKey),
            };
        }
        match self.anonymous {
            AnonymousPolicy::Reject => Err(AuthError::Missing),
            AnonymousPolicy::Allow => Ok(Identity {
                user: "anonymous".into(),
                session: None,
                method: AuthMethod::Anonymous,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn cfg(dir: &std::path::Path) -> IdentityConfig {
        let p = dir.join("secret");
        std::fs::write(&p, SECRET).unwrap();
        IdentityConfig {
            jwt: Some(JwtConfig {
                algorithms: vec!["HS256".into()],
                secret_file: Some(p),
                public_key_file: None,
                jwks_file: None,
                issuer: "idp".into(),
                audience: vec!["shroud".into()],
                leeway_secs: 0,
            }),
            api_keys: vec![crate::config::ApiKeyConfig {
                user: "svc".into(),
                sha256: hex::encode(sha256(b"k-123")),
            }],
            ..IdentityConfig::default()
        }
    }

    fn token(iss: &str, aud: &str, exp_offset: i64) -> String {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let claims =
            serde_json::json!({"sub":"alice","sid":"s1","iss":iss,"aud":aud,"exp":now+exp_offset});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn headers(k: &str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        h
    }

    #[test]
    fn jwt_and_api_keys() {
        let dir = tempdir();
        let a = Authenticator::new(&cfg(&dir)).unwrap();
        let id = a
            .authenticate(&headers(
                "authorization",
                &format!("Bearer {}", token("idp", "shroud", 60)),
            ))
            .unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.session.as_deref(), Some("s1"));
        assert!(
            a.authenticate(&headers(
                "authorization",
                &format!("Bearer {}", token("evil", "shroud", 60))
            ))
            .is_err()
        );
        assert!(
            a.authenticate(&headers(
                "authorization",
                &format!("Bearer {}", token("idp", "other", 60))
            ))
            .is_err()
        );
        assert!(
            a.authenticate(&headers(
                "authorization",
                &format!("Bearer {}", token("idp", "shroud", -60))
            ))
            .is_err()
        );
        assert_eq!(
            a.authenticate(&headers("x-api-key", "k-123")).unwrap().user,
            "svc"
        );
        assert!(matches!(
            a.authenticate(&headers("x-api-key", "nope")),
            Err(AuthError::UnknownApiKey)
        ));
        assert!(matches!(
            a.authenticate(&HeaderMap::new()),
            Err(AuthError::Missing)
        ));
    }

    fn tempdir() -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("shroud-id-{}", crate::decision::new_decision_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

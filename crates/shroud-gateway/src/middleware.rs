//! The pipeline as one tower [`Layer`] for any axum or hyper application that
//! wants identity, risk decisions and response masking without a separate
//! proxy hop: identify → decide (fail closed) → mask, around the app's own
//! handlers. (Routing tiers, upstream pools and the response cache belong to
//! the proxy and are not part of it.)

use std::{sync::Arc, time::Duration};

use tower::Layer;

use crate::{
    config::{DecisionConfig, IdentityConfig, MaskingConfig},
    decision::{ResponseMasker, RiskEngine},
    identity::{Authenticator, IdentitySetupError},
    jsonl::JsonLines,
    layer::{
        decide::{Decide, DecideLayer, DecideSettings, Routes},
        identify::{Identify, IdentifyLayer},
        mask::{Mask, MaskLayer},
    },
};

/// identify → decide → mask as one layer.
#[derive(Clone, Debug)]
pub struct ShroudLayer {
    identify: IdentifyLayer,
    decide: DecideLayer,
    mask: MaskLayer,
}

/// Settings of [`ShroudLayer`] (the same sections as the proxy's config).
#[derive(Debug, Clone, Default)]
pub struct ShroudLayerConfig {
    /// `[identity]`.
    pub identity: IdentityConfig,
    /// `[decision]`.
    pub decision: DecisionConfig,
    /// `[masking]`.
    pub masking: MaskingConfig,
    /// Application name and named routes.
    pub routes: Routes,
    /// Largest response body masked (bigger ones are refused with 502).
    pub max_body_bytes: Option<usize>,
    /// Audit log (decisions).
    pub audit: Option<JsonLines>,
}

impl ShroudLayer {
    /// Builds the layer (reads JWT key files).
    pub fn new(
        cfg: ShroudLayerConfig,
        engine: Arc<dyn RiskEngine>,
        masker: Arc<dyn ResponseMasker>,
    ) -> Result<Self, IdentitySetupError> {
        let auth = Arc::new(Authenticator::new(&cfg.identity)?);
        let d = &cfg.decision;
        let decide = DecideLayer::new(
            engine,
            DecideSettings {
                timeout: Duration::from_millis(d.timeout_ms),
                fallback_level: d.fallback_level,
                fallback_tier: d.fallback_tier,
                anonymous_min_level: cfg.identity.anonymous_min_level,
                cache_ttl: Duration::from_millis(d.cache_ttl_ms),
                cache_max_entries: d.cache_max_entries,
            },
            cfg.routes,
            cfg.audit.unwrap_or_else(JsonLines::disabled),
        );
        Ok(ShroudLayer {
            identify: IdentifyLayer::new(auth),
            decide,
            mask: MaskLayer::new(masker, cfg.masking, cfg.max_body_bytes.unwrap_or(8 << 20)),
        })
    }
}

impl<S> Layer<S> for ShroudLayer {
    type Service = Identify<Decide<Mask<S>>>;
    fn layer(&self, inner: S) -> Self::Service {
        self.identify
            .layer(self.decide.layer(self.mask.layer(inner)))
    }
}

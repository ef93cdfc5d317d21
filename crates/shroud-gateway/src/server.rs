//! The gateway process: builds the layer stack from a [`Config`] (a
//! [`Runtime`]), serves the data listener (HTTP/1.1 and HTTP/2, optional TLS
//! 1.3) and the management listener, swaps the runtime atomically on reload,
//! and drains connections on shutdown.

use std::{
    convert::Infallible,
    net::SocketAddr,
    num::NonZeroU32,
    sync::{Arc, OnceLock},
    time::Duration,
};

use arc_swap::ArcSwap;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_rustls::TlsAcceptor;
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};

use crate::{
    body::{GatewayBody, json_error},
    config::{Config, ConfigError},
    decision::{NoMasker, ResponseMasker, RiskEngine, StaticEngine, Tier},
    identity::Authenticator,
    jsonl::JsonLines,
    layer::{
        ClientAddr,
        cache::CacheLayer,
        decide::{DecideLayer, DecideSettings, Routes},
        forward::{Forward, Pools},
        identify::IdentifyLayer,
        mask::MaskLayer,
        observe::ObserveLayer,
        shed::ShedLayer,
        tier::TierLayer,
    },
    management,
    stepup::StepUp,
    upstream::{Pool, build_client},
};

/// The whole pipeline as one cloneable service.
pub type GatewayService =
    BoxCloneSyncService<Request<GatewayBody>, Response<GatewayBody>, Infallible>;

/// The path of the telemetry endpoint on the data listener (reserved: never proxied).
pub const TELEMETRY_PATH: &str = "/v1/telemetry";

/// Starting or reloading the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Bad config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A config value is unusable at build time (key files, TLS files, log files).
    #[error("{0}")]
    Setup(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

fn setup(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Setup(e.to_string())
}

/// The engine and masker the gateway calls.
#[derive(Clone)]
pub struct Hooks {
    /// Decides per request.
    pub engine: Arc<dyn RiskEngine>,
    /// Masks response bodies.
    pub masker: Arc<dyn ResponseMasker>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("engine", &self.engine.name())
            .field("masker", &self.masker.name())
            .finish()
    }
}

impl Hooks {
    /// What a build without shroud-policy and shroud-mask runs: the static
    /// engine of `[decision]` and no masker (so any masked level is blocked).
    pub fn standalone(cfg: &Config) -> Self {
        Hooks {
            engine: Arc::new(StaticEngine {
                level: cfg.decision.static_level,
                tier: cfg.decision.static_tier,
                policy_version: cfg.decision.policy_version.clone(),
            }),
            masker: Arc::new(NoMasker),
        }
    }
}

/// The log sinks of a runtime.
#[derive(Debug, Clone)]
pub struct Sinks {
    /// Decisions and admin actions.
    pub audit: JsonLines,
    /// Security alerts.
    pub alerts: JsonLines,
    /// Traffic log.
    pub traffic: JsonLines,
}

impl Sinks {
    fn open(cfg: &Config) -> Result<Self, GatewayError> {
        let open = |field: &str, p: Option<&std::path::Path>| {
            JsonLines::open_opt(p).map_err(|e| {
                setup(format!(
                    "logs.{field}: cannot open {}: {e}",
                    p.map(|p| p.display().to_string()).unwrap_or_default()
                ))
            })
        };
        Ok(Sinks {
            audit: open("audit", cfg.logs.audit.as_deref())?,
            alerts: open("alerts", cfg.logs.alerts.as_deref())?,
            traffic: open("traffic", cfg.logs.traffic.as_deref())?,
        })
    }
}

/// Everything built from one config; swapped whole on reload.
pub struct Runtime {
    /// The config it was built from.
    pub config: Arc<Config>,
    /// The pipeline.
    pub service: GatewayService,
    /// The upstream pools.
    pub pools: Arc<Pools>,
    /// TLS acceptor of the data listener.
    pub tls: Option<TlsAcceptor>,
    /// Log sinks.
    pub sinks: Sinks,
    /// The hooks in use.
    pub hooks: Hooks,
}

impl Runtime {
    /// Builds the pipeline (reads key, certificate and log files; starts health checks).
    pub fn build(config: Config, hooks: Hooks) -> Result<Runtime, GatewayError> {
        config.validate()?;
        let sinks = Sinks::open(&config)?;
        let auth = Arc::new(Authenticator::new(&config.identity).map_err(setup)?);
        let step_up = match &config.suspicious.step_up {
            Some(s) => {
                if config.identity.jwt.is_none() {
                    return Err(setup(
                        "suspicious.step_up: needs identity.jwt (the answer is a step-up JWT)",
                    ));
                }
                Some(Arc::new(StepUp::new(s).map_err(setup)?))
            }
            None => None,
        };
        let client = build_client(&config.upstream);
        let pool = |tier: Tier| -> Result<Option<Pool>, GatewayError> {
            config
                .tiers
                .get(&tier)
                .map(|p| {
                    Pool::new(tier, p, &client).map_err(|e| setup(format!("tiers.{tier}: {e}")))
                })
                .transpose()
        };
        let pools = Arc::new(Pools {
            normal: pool(Tier::Normal)?.ok_or_else(|| setup("tiers.normal is required"))?,
            suspicious: pool(Tier::Suspicious)?,
            high_risk: pool(Tier::HighRisk)?,
        });
        let tls = match (&config.listen.tls_cert, &config.listen.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key, config.listen.http2)?),
            _ => None,
        };
        let forward = Forward::new(
            pools.clone(),
            client,
            config.upstream.clone(),
            auth.api_key_header().clone(),
            tls.is_some(),
        );
        let decide = DecideLayer::new(
            hooks.engine.clone(),
            DecideSettings {
                timeout: Duration::from_millis(config.decision.timeout_ms),
                fallback_level: config.decision.fallback_level,
                fallback_tier: config.decision.fallback_tier,
                anonymous_min_level: config.identity.anonymous_min_level,
                cache_ttl: Duration::from_millis(config.decision.cache_ttl_ms),
                cache_max_entries: config.decision.cache_max_entries,
            },
            Routes {
                app: config.app.clone(),
                routes: config.routes.clone(),
            },
            sinks.audit.clone(),
        );
        let nz = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        let tier = TierLayer::new(
            nz(config.suspicious.rate_per_second),
            nz(config.suspicious.burst),
            step_up,
            auth.clone(),
            sinks.alerts.clone(),
        );
        let cache = config.cache.enabled.then(|| {
            CacheLayer::new(
                config.cache.max_entries,
                config.cache.max_entry_bytes,
                Duration::from_secs(config.cache.max_ttl_secs),
            )
        });
        let svc = ServiceBuilder::new()
            .layer(ObserveLayer::new(sinks.traffic.clone()))
            .layer(ShedLayer::new(
                config.limits.max_concurrency,
                config.limits.retry_after_secs,
            ))
            .layer(IdentifyLayer::new(auth))
            .layer(decide)
            .layer(tier)
            .option_layer(cache)
            .layer(MaskLayer::new(
                hooks.masker.clone(),
                config.masking.clone(),
                config.limits.max_response_body_bytes,
            ))
            .service(forward);
        let service = BoxCloneSyncService::new(svc.map_response(crate::body::boxed_response));
        Ok(Runtime {
            config: Arc::new(config),
            service,
            pools,
            tls,
            sinks,
            hooks,
        })
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
    http2: bool,
) -> Result<TlsAcceptor, GatewayError> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| setup(format!("listen.tls_cert: {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(setup(format!(
            "listen.tls_cert: {} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| setup(format!("listen.tls_key: {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| setup(format!("listen.tls_key: {e}")))?;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// The process-wide Prometheus handle (installed once; several gateways in
/// one process, as in tests, share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let handle = match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (an embedding app's): keep a
                // detached one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            let h = handle.clone();
            let _ = std::thread::Builder::new()
                .name("shroud-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        h.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// A running gateway.
pub struct Gateway {
    state: Arc<ArcSwap<Runtime>>,
    hooks: Hooks,
    data_addr: SocketAddr,
    mgmt_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("data_addr", &self.data_addr)
            .field("mgmt_addr", &self.mgmt_addr)
            .finish()
    }
}

impl Gateway {
    /// Builds the runtime and binds both listeners (port 0 picks a free port).
    pub async fn start(config: Config, hooks: Hooks) -> Result<Gateway, GatewayError> {
        let _ = metrics_handle();
        let data_bind = config.listen.addr;
        let mgmt_bind = config.management.as_ref().map(|m| m.addr);
        let runtime = Runtime::build(config, hooks.clone())?;
        let state = Arc::new(ArcSwap::from_pointee(runtime));
        let listener = TcpListener::bind(data_bind)
            .await
            .map_err(|source| GatewayError::Bind {
                addr: data_bind,
                source,
            })?;
        let data_addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: data_bind,
            source,
        })?;
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(serve_data(
            listener,
            state.clone(),
            rx.clone(),
        ))];
        let mut mgmt_addr = None;
        if let Some(addr) = mgmt_bind {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| GatewayError::Bind { addr, source })?;
            mgmt_addr = Some(
                l.local_addr()
                    .map_err(|source| GatewayError::Bind { addr, source })?,
            );
            let router = management::router(state.clone());
            let mut rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                let res = axum::serve(l, router.into_make_service())
                    .with_graceful_shutdown(async move {
                        let _ = rx.changed().await;
                    })
                    .await;
                if let Err(e) = res {
                    tracing::error!("management listener failed: {e}");
                }
            }));
        }
        tracing::info!(%data_addr, ?mgmt_addr, "gateway listening");
        Ok(Gateway {
            state,
            hooks,
            data_addr,
            mgmt_addr,
            shutdown,
            tasks,
        })
    }

    /// The bound data address.
    pub fn data_addr(&self) -> SocketAddr {
        self.data_addr
    }

    /// The bound management address, if any.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.mgmt_addr
    }

    /// The runtime in use.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.state.load_full()
    }

    /// Builds a runtime from `config` and swaps it in atomically: requests
    /// already running finish on the old one, new requests (on existing
    /// connections too) use the new one. The listener addresses cannot change
    /// without a restart. On error the running config stays.
    pub fn reload(&self, config: Config) -> Result<(), GatewayError> {
        let current = self.state.load();
        if config.listen.addr != current.config.listen.addr
            || config.management.as_ref().map(|m| m.addr)
                != current.config.management.as_ref().map(|m| m.addr)
        {
            tracing::warn!("listener addresses changed in the config: they apply after a restart");
        }
        let runtime = Runtime::build(config, self.hooks.clone())?;
        self.state.store(Arc::new(runtime));
        metrics::counter!("shroud_config_reloads_total").increment(1);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish (up to
    /// `limits.shutdown_grace_ms`), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn serve_data(
    listener: TcpListener,
    state: Arc<ArcSwap<Runtime>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            res = listener.accept() => {
                let (stream, peer) = match res {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let watcher = graceful.watcher();
                tokio::spawn(serve_connection(stream, peer, state.clone(), watcher));
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let grace = Duration::from_millis(state.load().config.limits.shutdown_grace_ms);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<ArcSwap<Runtime>>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let _ = stream.set_nodelay(true);
    let rt = state.load_full();
    let listen = &rt.config.listen;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(listen.header_read_timeout_ms))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    if !listen.http2 {
        builder = builder.http1_only();
    }
    let svc_state = state.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(req, peer, svc_state.load_full())
    });
    match &rt.tls {
        Some(tls) => {
            let hs = Duration::from_millis(listen.tls_handshake_timeout_ms);
            match tokio::time::timeout(hs, tls.accept(stream)).await {
                Ok(Ok(s)) => {
                    if let Err(e) = watcher
                        .watch(builder.serve_connection(TokioIo::new(s), svc))
                        .await
                    {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                }
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
        None => {
            if let Err(e) = watcher
                .watch(builder.serve_connection(TokioIo::new(stream), svc))
                .await
            {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    rt: Arc<Runtime>,
) -> Result<Response<GatewayBody>, Infallible> {
    let limits = &rt.config.limits;
    if req.uri().path() == TELEMETRY_PATH {
        return Ok(management::not_available(
            "POST /v1/telemetry",
            "shroud-telemetry and shroud-detect",
        ));
    }
    let too_long = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limits.max_request_body_bytes as u64);
    if too_long {
        return Ok(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_body_too_large",
            &format!(
                "the request body is over limits.max_request_body_bytes ({} bytes)",
                limits.max_request_body_bytes
            ),
        ));
    }
    let timeout = Duration::from_millis(limits.request_body_timeout_ms);
    let max = limits.max_request_body_bytes;
    let mut req: Request<GatewayBody> = req.map(|b| {
        let limited =
            http_body_util::Limited::new(tower_http::timeout::TimeoutBody::new(timeout, b), max);
        let body: GatewayBody = limited.boxed_unsync();
        body
    });
    req.extensions_mut().insert(ClientAddr(peer));
    call_service(rt.service.clone(), req).await
}

/// Runs the pipeline. Boxing the future here, with concrete types, lets the
/// compiler prove it `Send` (it cannot through `service_fn`'s generic layers).
fn call_service(
    service: GatewayService,
    req: Request<GatewayBody>,
) -> crate::decision::BoxFuture<'static, Result<Response<GatewayBody>, Infallible>> {
    Box::pin(service.oneshot(req))
}

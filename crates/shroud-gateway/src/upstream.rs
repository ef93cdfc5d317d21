//! Upstream pools: endpoints with in-flight counts and health, load balancing
//! (round robin, power-of-two-choices least loaded, consistent hashing by
//! user), active health checks and passive ejection, and the keep-alive
//! connection pool (hyper-util's client) shared by all pools.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use http::uri::Authority;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use rand::Rng;

use crate::{
    body::{GatewayBody, empty},
    config::{Balance, EjectionConfig, HealthConfig, PoolConfig, UpstreamConfig, parse_upstream},
    decision::Tier,
};

/// The HTTP client used for upstreams: keep-alive pooled connections.
pub type UpstreamClient = Client<HttpConnector, GatewayBody>;

/// Builds the upstream client from config.
pub fn build_client(cfg: &UpstreamConfig) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_millis(cfg.pool_idle_timeout_ms))
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .build(connector)
}

/// One upstream server.
#[derive(Debug)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: Authority,
    in_flight: AtomicUsize,
    healthy: AtomicBool,
    checks_ok: AtomicU32,
    checks_failed: AtomicU32,
    failures: AtomicU32,
    ejected_until_ms: AtomicU64,
}

impl Endpoint {
    fn new(authority: Authority) -> Self {
        Endpoint {
            authority,
            in_flight: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
            checks_ok: AtomicU32::new(0),
            checks_failed: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
        }
    }

    /// Requests currently in flight to this endpoint.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether active health checks consider it up.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// Counts a request in flight until dropped (kept alive by the response body).
#[derive(Debug)]
pub struct InFlight(Arc<Endpoint>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Aborts a background task when dropped (a pool's health checker dies with the pool).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The pool of one tier.
#[derive(Debug)]
pub struct Pool {
    /// The tier served.
    pub tier: Tier,
    endpoints: Arc<Vec<Arc<Endpoint>>>,
    balance: Balance,
    rr: AtomicUsize,
    ring: Vec<(u64, usize)>,
    ejection: EjectionConfig,
    epoch: Instant,
    _health: Option<AbortOnDrop>,
}

/// Virtual nodes per endpoint on the consistent-hash ring: enough that keys
/// spread evenly over a handful of upstreams.
const VNODES: usize = 100;

/// FNV-1a followed by a splitmix64 finalizer. Hand-written because the hash
/// must be identical in every gateway instance and build (std's hasher is not
/// guaranteed stable), so that all instances send a user to the same upstream.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Pool {
    /// Builds a pool; starts its health checker if configured (needs a Tokio runtime).
    pub fn new(tier: Tier, cfg: &PoolConfig, client: &UpstreamClient) -> Result<Self, String> {
        let endpoints: Vec<Arc<Endpoint>> = cfg
            .upstreams
            .iter()
            .map(|u| parse_upstream(u).map(|a| Arc::new(Endpoint::new(a))))
            .collect::<Result<_, _>>()?;
        let mut ring = Vec::new();
        if cfg.balance == Balance::ConsistentHash {
            for (i, ep) in endpoints.iter().enumerate() {
                for v in 0..VNODES {
                    ring.push((stable_hash(format!("{}#{v}", ep.authority).as_bytes()), i));
                }
            }
            ring.sort_unstable();
        }
        let endpoints = Arc::new(endpoints);
        let health = cfg.health.as_ref().map(|h| {
            let task = tokio::spawn(health_loop(
                endpoints.clone(),
                h.clone(),
                client.clone(),
                tier,
            ));
            AbortOnDrop(task.abort_handle())
        });
        Ok(Pool {
            tier,
            endpoints,
            balance: cfg.balance,
            rr: AtomicUsize::new(0),
            ring,
            ejection: cfg.ejection.clone(),
            epoch: Instant::now(),
            _health: health,
        })
    }

    /// The endpoints of the pool.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn available(&self, ep: &Endpoint, now: u64) -> bool {
        ep.healthy() && ep.ejected_until_ms.load(Ordering::Relaxed) <= now
    }

    /// Picks an endpoint for `user` and counts the request in flight; `None`
    /// when no endpoint is healthy and not ejected.
    pub fn pick(&self, user: &str) -> Option<(Arc<Endpoint>, InFlight)> {
        let now = self.now_ms();
        let eps = &self.endpoints;
        let chosen = match self.balance {
            Balance::RoundRobin => {
                let start = self.rr.fetch_add(1, Ordering::Relaxed);
                (0..eps.len())
                    .map(|i| &eps[(start + i) % eps.len()])
                    .find(|e| self.available(e, now))
            }
            Balance::P2c => {
                let avail: Vec<&Arc<Endpoint>> =
                    eps.iter().filter(|e| self.available(e, now)).collect();
                match avail.len() {
                    0 => None,
                    1 => Some(avail[0]),
                    n => {
                        let mut rng = rand::rng();
                        let a = rng.random_range(0..n);
                        let mut b = rng.random_range(0..n - 1);
                        if b >= a {
                            b += 1;
                        }
                        Some(if avail[b].in_flight() < avail[a].in_flight() {
                            avail[b]
                        } else {
                            avail[a]
                        })
                    }
                }
            }
            Balance::ConsistentHash => {
                let h = stable_hash(user.as_bytes());
                let start = self.ring.partition_point(|(x, _)| *x < h);
                (0..self.ring.len())
                    .map(|i| &eps[self.ring[(start + i) % self.ring.len()].1])
                    .find(|e| self.available(e, now))
            }
        }?;
        chosen.in_flight.fetch_add(1, Ordering::Relaxed);
        Some((chosen.clone(), InFlight(chosen.clone())))
    }

    /// Records the outcome of live traffic (passive ejection).
    pub fn report(&self, ep: &Endpoint, ok: bool) {
        if ok {
            ep.failures.store(0, Ordering::Relaxed);
            return;
        }
        let n = ep.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = self.ejection.consecutive_failures;
        if limit > 0 && n >= limit {
            ep.failures.store(0, Ordering::Relaxed);
            ep.ejected_until_ms
                .store(self.now_ms() + self.ejection.eject_ms, Ordering::Relaxed);
            tracing::warn!(tier = %self.tier, upstream = %ep.authority, "upstream ejected after {n} consecutive failures");
            metrics::counter!("shroud_upstream_ejections_total", "tier" => self.tier.as_str())
                .increment(1);
        }
    }

    /// A JSON summary for health reports.
    pub fn status(&self) -> serde_json::Value {
        let now = self.now_ms();
        serde_json::json!({
            "tier": self.tier,
            "upstreams": self.endpoints.iter().map(|e| serde_json::json!({
                "upstream": e.authority.as_str(),
                "healthy": e.healthy(),
                "ejected": e.ejected_until_ms.load(Ordering::Relaxed) > now,
                "in_flight": e.in_flight(),
            })).collect::<Vec<_>>(),
        })
    }
}

async fn health_loop(
    endpoints: Arc<Vec<Arc<Endpoint>>>,
    cfg: HealthConfig,
    client: UpstreamClient,
    tier: Tier,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for ep in endpoints.iter() {
            let uri = format!("http://{}{}", ep.authority, cfg.path);
            let req = http::Request::get(uri).body(empty());
            let ok = match req {
                Ok(req) => matches!(
                    tokio::time::timeout(Duration::from_millis(cfg.timeout_ms), client.request(req)).await,
                    Ok(Ok(resp)) if resp.status().is_success()
                ),
                Err(_) => false,
            };
            if ok {
                ep.checks_failed.store(0, Ordering::Relaxed);
                let n = ep.checks_ok.fetch_add(1, Ordering::Relaxed) + 1;
                if !ep.healthy() && n >= cfg.healthy_after {
                    ep.healthy.store(true, Ordering::Relaxed);
                    tracing::info!(%tier, upstream = %ep.authority, "upstream healthy again");
                }
            } else {
                ep.checks_ok.store(0, Ordering::Relaxed);
                let n = ep.checks_failed.fetch_add(1, Ordering::Relaxed) + 1;
                if ep.healthy() && n >= cfg.unhealthy_after {
                    ep.healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(%tier, upstream = %ep.authority, "upstream failed health checks: marked down");
                    metrics::counter!("shroud_upstream_errors_total", "tier" => tier.as_str(), "kind" => "health_check").increment(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(balance: Balance, n: usize) -> Pool {
        let cfg = PoolConfig {
            upstreams: (0..n)
                .map(|i| format!("http://127.0.0.1:{}", 9000 + i))
                .collect(),
            balance,
            health: None,
            ejection: EjectionConfig {
                consecutive_failures: 2,
                eject_ms: 60_000,
            },
        };
        let client = build_client(&UpstreamConfig::default());
        Pool::new(Tier::Normal, &cfg, &client).unwrap()
    }

    #[tokio::test]
    async fn round_robin_cycles_and_skips_ejected() {
        let p = pool(Balance::RoundRobin, 3);
        let picks: Vec<String> = (0..6)
            .map(|_| p.pick("u").unwrap().0.authority.to_string())
            .collect();
        assert_eq!(picks[0..3], picks[3..6]);
        assert_eq!(
            picks.iter().collect::<std::collections::HashSet<_>>().len(),
            3
        );
        let ep = p.endpoints()[1].clone();
        p.report(&ep, false);
        p.report(&ep, false);
        for _ in 0..6 {
            assert_ne!(p.pick("u").unwrap().0.authority, ep.authority);
        }
    }

    #[tokio::test]
    async fn p2c_prefers_less_loaded() {
        let p = pool(Balance::P2c, 2);
        let (busy, _g1) = p.pick("u").unwrap();
        let mut guards = vec![];
        for _ in 0..5 {
            busy.in_flight.fetch_add(1, Ordering::Relaxed);
            guards.push(InFlight(busy.clone()));
        }
        for _ in 0..10 {
            let (e, _g) = p.pick("u").unwrap();
            assert_ne!(e.authority, busy.authority);
        }
        drop(guards);
    }

    #[tokio::test]
    async fn consistent_hash_is_sticky_and_spreads() {
        let p = pool(Balance::ConsistentHash, 4);
        let mut seen = std::collections::HashSet::new();
        for u in 0..200 {
            let user = format!("user{u}");
            let a = p.pick(&user).unwrap().0.authority.clone();
            assert_eq!(a, p.pick(&user).unwrap().0.authority);
            seen.insert(a);
        }
        assert_eq!(seen.len(), 4);
    }

    #[tokio::test]
    async fn all_down_means_none() {
        let p = pool(Balance::RoundRobin, 1);
        let ep = p.endpoints()[0].clone();
        ep.healthy.store(false, Ordering::Relaxed);
        assert!(p.pick("u").is_none());
    }
}

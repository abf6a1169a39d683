//! Who is knocking: the client address of a request, the optional source allowlists of the
//! webhooks, and a token bucket per source address on the webhooks and the admin API (issue #22).
//!
//! - **Client address.** The TCP peer, unless the peer is a listed trusted proxy: then
//!   `X-Forwarded-For` is read from the right, skipping trusted proxies, and the first address
//!   that is not one is the client. An `X-Forwarded-For` from any other peer is ignored, so nobody
//!   can pick the address they are judged by.
//! - **Allowlist.** Per webhook, a list of networks (`[http] gupshup_allow`, `meta_allow`); empty
//!   means any source (the secret or signature still has to match). The providers publish their
//!   callback ranges; `config/tierpace.toml` carries them as a commented example, since they
//!   change without notice and a stale list would silently drop opt-outs.
//! - **Rate limit.** A token bucket per client address and door (`gupshup`, `meta`, `admin`):
//!   `rate` tokens a second up to `burst`. Past it the request gets 429 (providers retry later),
//!   so a flood from one address cannot keep the runtime busy and starve the dispatchers.
//!
//! Every refusal is logged and counted in `tierpace_http_refused_total{door,reason}`.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use super::error::error_body;
use super::Metrics;

/// Why a request or an event was refused: the `reason` label of `tierpace_http_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The Gupshup webhook has no secret configured (and is not explicitly opened).
    NoSecret,
    /// Missing or wrong Gupshup secret.
    BadSecret,
    /// Missing or wrong Meta `X-Hub-Signature-256` (or no app secret configured).
    BadSignature,
    /// The client address is not in the webhook's allowlist.
    SourceNotAllowed,
    /// The client address is over its rate limit.
    RateLimited,
    /// An event older than the state it would change (a replay or an out-of-order callback).
    Stale,
}

impl Refusal {
    pub const EVERY: [Refusal; 6] = [
        Refusal::NoSecret,
        Refusal::BadSecret,
        Refusal::BadSignature,
        Refusal::SourceNotAllowed,
        Refusal::RateLimited,
        Refusal::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoSecret => "no_secret",
            Refusal::BadSecret => "bad_secret",
            Refusal::BadSignature => "bad_signature",
            Refusal::SourceNotAllowed => "source_not_allowed",
            Refusal::RateLimited => "rate_limited",
            Refusal::Stale => "stale",
        }
    }
}

/// A token bucket's size: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub burst: u32,
}

/// Which networks may call the webhooks and which proxies are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceRules {
    /// Networks allowed to call `/webhooks/gupshup`; empty: any.
    pub gupshup_allow: Vec<IpNet>,
    /// Networks allowed to call `/webhooks/meta`; empty: any.
    pub meta_allow: Vec<IpNet>,
    /// Proxies whose `X-Forwarded-For` is believed (e.g. the TLS-terminating nginx).
    pub trusted_proxies: Vec<IpNet>,
}

fn within(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|n| n.contains(&ip))
}

/// `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request from `peer` carrying `forwarded_for` (the
/// `X-Forwarded-For` values joined by commas). See the module docs for the rule.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !within(trusted, peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !within(trusted, client) {
                    break;
                }
            }
            // A hop we cannot read ends the chain: the last trusted hop is the client we know.
            Err(_) => break,
        }
    }
    client
}

/// One source's bucket: tokens left at `at` (time since the limiter started).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Duration,
}

impl Bucket {
    /// Refill for the time since the last call, then take one token if there is one.
    fn take(&mut self, limit: RateLimit, now: Duration) -> bool {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.rate).min(f64::from(limit.burst));
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Buckets of one door, by client address. Time is an argument (time since start).
#[derive(Debug)]
pub struct SourceBuckets {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
}

/// Past this many sources, buckets that have refilled (idle sources) are forgotten.
const MAX_SOURCES: usize = 10_000;

impl SourceBuckets {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Whether `ip` may make one more request at `now`.
    pub fn allow(&mut self, ip: IpAddr, now: Duration) -> bool {
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&ip) {
            let limit = self.limit;
            self.buckets.retain(|_, b| {
                let idle = now.saturating_sub(b.at).as_secs_f64();
                b.tokens + idle * limit.rate < f64::from(limit.burst)
            });
        }
        let limit = self.limit;
        self.buckets
            .entry(ip)
            .or_insert(Bucket {
                tokens: f64::from(limit.burst),
                at: now,
            })
            .take(limit, now)
    }
}

/// One door's guard: its allowlist (webhooks) and its buckets.
pub struct Door {
    pub name: &'static str,
    allow: Vec<IpNet>,
    trusted: Vec<IpNet>,
    buckets: Option<Mutex<SourceBuckets>>,
    started: tokio::time::Instant,
    metrics: Metrics,
}

impl Door {
    pub fn new(
        name: &'static str,
        allow: Vec<IpNet>,
        rules: &SourceRules,
        limit: Option<RateLimit>,
        metrics: Metrics,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            allow,
            trusted: rules.trusted_proxies.clone(),
            buckets: limit.map(|l| Mutex::new(SourceBuckets::new(l))),
            started: tokio::time::Instant::now(),
            metrics,
        })
    }

    /// Allowed, or the refusal.
    fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        if !self.allow.is_empty() && !within(&self.allow, ip) {
            return Err(Refusal::SourceNotAllowed);
        }
        if let Some(buckets) = &self.buckets {
            let now = self.started.elapsed();
            // A panic while holding this lock cannot leave a bucket half-updated (plain fields).
            let mut b = buckets.lock().unwrap_or_else(|p| p.into_inner());
            if !b.allow(ip, now) {
                return Err(Refusal::RateLimited);
            }
        }
        Ok(())
    }
}

/// The middleware in front of each door (`axum::middleware::from_fn_with_state`).
pub async fn guard(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    // The listener puts the peer address on every request; without it (a router served some
    // other way) the source is unknown and only an empty allowlist lets it in.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let ip = client_ip(peer, forwarded.as_deref(), &door.trusted);
    match door.check(ip) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(door = door.name, source = %ip, reason = refusal.as_str(), "request refused");
            door.metrics.refused(door.name, refusal);
            let status = match refusal {
                Refusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::FORBIDDEN,
            };
            (status, error_body(refusal.as_str(), "request refused")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_through_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client claims 1.2.3.4; our proxy appended the real peer 198.51.100.7.
        let xff = "1.2.3.4, 198.51.100.7, 10.0.0.2";
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some(xff), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("junk"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let mut b = SourceBuckets::new(RateLimit {
            rate: 2.0,
            burst: 3,
        });
        let a = ip("192.0.2.1");
        let t = Duration::from_secs(100);
        assert!((0..3).all(|_| b.allow(a, t)));
        assert!(!b.allow(a, t));
        assert!(
            b.allow(ip("192.0.2.2"), t),
            "another source has its own bucket"
        );
        assert!(b.allow(a, t + Duration::from_millis(500)));
        assert!(!b.allow(a, t + Duration::from_millis(500)));
    }

    proptest! {
        /// Over any run of requests, a source is granted at most `burst + rate x elapsed`.
        #[test]
        fn a_source_never_gets_more_than_burst_plus_rate(
            steps in proptest::collection::vec(0u64..400, 1..300),
            rate in 1u32..50,
            burst in 1u32..20,
        ) {
            let mut b = SourceBuckets::new(RateLimit { rate: f64::from(rate), burst });
            let a = ip("192.0.2.1");
            let mut now = Duration::ZERO;
            let mut granted = 0u64;
            for step in steps {
                now += Duration::from_millis(step);
                granted += u64::from(b.allow(a, now));
                let bound = f64::from(burst) + now.as_secs_f64() * f64::from(rate);
                prop_assert!(granted as f64 <= bound + 1e-9);
            }
        }

        /// Whatever an untrusted peer puts in X-Forwarded-For, it is judged by its own address.
        #[test]
        fn an_untrusted_peer_cannot_choose_its_address(a in any::<u32>(), b in any::<u32>()) {
            let peer = IpAddr::from(std::net::Ipv4Addr::from(a));
            let claimed = IpAddr::from(std::net::Ipv4Addr::from(b));
            let trusted = nets(&["10.0.0.0/8"]);
            prop_assume!(!within(&trusted, peer));
            prop_assert_eq!(client_ip(peer, Some(&claimed.to_string()), &trusted), peer);
        }
    }
}

//! Who the client is (the TCP peer, or the address a trusted proxy names in
//! `X-Forwarded-For`), and the per-instance rate limits on the API.
//!
//! Rate limits are token buckets held in memory: each bucket holds up to N
//! requests and refills at N per minute. Checking one is a hash-map lookup under a
//! sharded mutex, never a database write, so the hot path stays cheap. Because the
//! buckets are per instance, N instances behind a load balancer allow up to N times
//! the configured rate; the limit that must hold across instances, failed logins,
//! lives in the database (`login_attempts`, see `app::accounts`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use crate::config::Settings;

/// Paths whose requests count against the stricter sign-in limit: every API
/// route under `/api/v1/auth/` (login, logout, register, password reset, ...) and
/// the web pages' sign-in, registration and password-reset forms. Add a prefix here
/// to put new authentication endpoints in the same class.
pub const AUTH_PATH_PREFIXES: &[&str] = &[
    "/api/v1/auth/",
    "/login",
    "/register",
    "/password-reset",
    "/auth/oidc/",
];

/// An IP network: an address and a prefix length (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(value: &str) -> Result<Cidr, String> {
        let value = value.trim();
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| format!("{value:?} is not an IP address or CIDR"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{value:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            _ => false,
        }
    }
}

/// Which peers may name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    proxies: Vec<Cidr>,
}

impl ProxyTrust {
    pub fn from_settings(settings: &Settings) -> ProxyTrust {
        let mut proxies: Vec<Cidr> = settings
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        if settings.trust_forwarded_for {
            // The deprecated switch trusted every peer; keep its meaning.
            proxies.extend(
                ["0.0.0.0/0", "::/0"]
                    .iter()
                    .filter_map(|p| p.parse::<Cidr>().ok()),
            );
        }
        ProxyTrust { proxies }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy, in which
    /// case `X-Forwarded-For` is read from the right (the entry the proxy added)
    /// and every trusted hop is skipped; the first untrusted entry is the client.
    /// An entry that is not an address ends the walk at the last trusted hop, so a
    /// client cannot forge anything to the left of what our proxies wrote.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client address of a request, put into its extensions by [`guard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// One class of limit: a token bucket per key.
pub struct RateLimiter {
    per_minute: u32,
    shards: Vec<Mutex<HashMap<u128, Bucket>>>,
    hasher: RandomState,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

const SHARDS: usize = 16;
/// Keys remembered per shard before idle buckets are dropped (16 × 4096 per class).
const MAX_KEYS_PER_SHARD: usize = 4096;

impl RateLimiter {
    /// `per_minute` requests per minute and key, in bursts of up to as many; 0 = off.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// Takes one request from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: u128, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS_PER_SHARD && !buckets.contains_key(&key) {
            // Forget the buckets that have filled up again (they behave exactly
            // like new ones); if every one is still in use, start over rather than
            // grow without bound.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_second
                    < capacity
            });
            if buckets.len() >= MAX_KEYS_PER_SHARD {
                tracing::warn!("rate-limit table full; forgetting its buckets");
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let refilled = now.saturating_duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refilled).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// A client address as a bucket key. IPv6 clients are keyed by their /64, the
/// block one subscriber usually gets, so that hopping addresses inside it does
/// not give a fresh bucket.
fn address_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits() & !u128::from(u64::MAX),
    }
}

/// What [`guard`] needs: who to trust for the client address, and the buckets.
pub struct Limits {
    trust: ProxyTrust,
    per_token: RateLimiter,
    per_address: RateLimiter,
    auth_per_address: RateLimiter,
    token_hasher: RandomState,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Limits {
        if settings.trust_forwarded_for {
            tracing::warn!(
                "trust_forwarded_for is deprecated and trusts X-Forwarded-For from any peer; \
                 set trusted_proxies to your proxies' addresses instead"
            );
        }
        Limits {
            trust: ProxyTrust::from_settings(settings),
            per_token: RateLimiter::new(settings.rate_limit_per_token_per_minute),
            per_address: RateLimiter::new(settings.rate_limit_per_address_per_minute),
            auth_per_address: RateLimiter::new(settings.rate_limit_auth_per_address_per_minute),
            token_hasher: RandomState::new(),
        }
    }

    /// The bucket key of the credential a request carries (bearer token or session
    /// cookie), if any. Only a keyed hash of it is kept.
    fn credential_key(&self, headers: &HeaderMap) -> Option<u128> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let cookie = || {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| *name == super::extract::SESSION_COOKIE)
                .map(|(_, value)| value)
        };
        let credential = bearer.or_else(cookie).filter(|c| !c.is_empty())?;
        Some(u128::from(self.token_hasher.hash_one(credential)))
    }
}

fn is_auth_path(path: &str) -> bool {
    AUTH_PATH_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Resolves the client address (for every later layer and handler), then applies
/// the rate limits: on the API per address and per credential, and on the
/// authentication endpoints (API, and the web forms' submissions) per address with
/// the stricter limit. Pages and operational endpoints are not limited.
pub async fn guard(
    State(limits): State<Arc<Limits>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = peer.map(|peer| limits.trust.client_ip(peer, request.headers()));
    if let Some(client) = client {
        request.extensions_mut().insert(ClientIp(client));
    }
    let path = request.uri().path();
    let api = path.starts_with("/api/");
    let auth = is_auth_path(path) && (api || request.method() == Method::POST);
    let now = Instant::now();
    let refused = if auth {
        client.and_then(|ip| limits.auth_per_address.check(address_key(ip), now).err())
    } else if api {
        client
            .and_then(|ip| limits.per_address.check(address_key(ip), now).err())
            .or_else(|| {
                limits
                    .credential_key(request.headers())
                    .and_then(|key| limits.per_token.check(key, now).err())
            })
    } else {
        None
    };
    match refused {
        None => next.run(request).await,
        Some(wait) => too_many_requests(api, wait),
    }
}

fn too_many_requests(api: bool, wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as i64;
    if api {
        return ApiError {
            retry_after_seconds: Some(seconds),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many requests; slow down and retry after the time in Retry-After",
            )
        }
        .into_response();
    }
    let mut response = super::web::session::WebError::Problem {
        status: StatusCode::TOO_MANY_REQUESTS,
        title: "Too many attempts",
        detail: format!("Please wait {seconds} seconds and try again."),
    }
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(value: &str) -> IpAddr {
        value.parse().unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped peers");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "proxy.internal",
            "10.0.0/8",
            "",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let trust = ProxyTrust {
            proxies: vec!["10.0.0.0/8".parse().unwrap()],
        };
        // An untrusted peer cannot name anyone.
        assert_eq!(
            trust.client_ip(ip("203.0.113.9"), &forwarded("198.51.100.1")),
            ip("203.0.113.9")
        );
        // Our proxy appended the real client; what the client wrote before is ignored.
        assert_eq!(
            trust.client_ip(ip("10.0.0.2"), &forwarded("1.1.1.1, 198.51.100.1")),
            ip("198.51.100.1")
        );
        // Two trusted hops.
        assert_eq!(
            trust.client_ip(ip("10.0.0.2"), &forwarded("198.51.100.1, 10.9.9.9")),
            ip("198.51.100.1")
        );
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(
            trust.client_ip(ip("10.0.0.2"), &forwarded("198.51.100.1, nonsense")),
            ip("10.0.0.2")
        );
        assert_eq!(
            trust.client_ip(ip("10.0.0.2"), &forwarded("[2001:db8::1]:443")),
            ip("2001:db8::1")
        );
        assert_eq!(
            trust.client_ip(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check(1, start).is_ok());
        }
        let wait = limiter.check(1, start).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900));
        assert!(
            limiter.check(2, start).is_ok(),
            "another key has its own bucket"
        );
        assert!(
            limiter
                .check(1, start + Duration::from_millis(1100))
                .is_ok()
        );
        assert!(
            limiter
                .check(1, start + Duration::from_millis(1100))
                .is_err()
        );
        assert!(RateLimiter::new(0).check(1, start).is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(10);
        let start = Instant::now();
        for key in 0..(SHARDS * MAX_KEYS_PER_SHARD * 2) as u128 {
            let _ = limiter.check(key, start);
        }
        let kept: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(kept <= SHARDS * MAX_KEYS_PER_SHARD, "{kept}");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            address_key(ip("192.0.2.1")),
            address_key(ip("::ffff:192.0.2.1"))
        );
        assert!(is_auth_path("/api/v1/auth/password-reset/confirm"));
        assert!(!is_auth_path("/api/v1/appointments"));
    }
}

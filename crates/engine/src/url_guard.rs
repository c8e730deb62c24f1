//! The security boundary around user-supplied URLs (callbacks, image URLs): only http(s),
//! and never an address inside the operator's network, checked after DNS resolution and
//! again at connect time so DNS rebinding and redirects cannot sneak past.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    Method, RequestBuilder, Url,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRange {
    Loopback,
    LinkLocal,
    /// RFC 1918 and the deprecated IPv6 site-local range.
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedCgnat,
    /// fc00::/7.
    UniqueLocal,
    Unspecified,
    Multicast,
    Broadcast,
    Documentation,
    /// ::ffff:0:0/96, which reaches IPv4 hosts through the IPv6 stack.
    Ipv4Mapped,
    /// Other special-purpose ranges (benchmarking, reserved, protocol assignments…).
    Reserved,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlGuardError {
    #[error("not a valid URL: {0}")]
    Malformed(String),
    #[error("scheme {0:?} is not allowed; use http or https")]
    UnsupportedScheme(String),
    #[error("the URL has no host")]
    MissingHost,
    #[error("host {host} resolves to {addr}, which is in a forbidden range ({range:?})")]
    ForbiddenAddress { host: String, addr: IpAddr, range: AddressRange },
    #[error("host {host} could not be resolved: {detail}")]
    Unresolvable { host: String, detail: String },
    #[error("too many redirects (at most {0})")]
    TooManyRedirects(usize),
}

/// What the guard lets through.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    /// Lifts the address checks (tests and trusted deployments use loopback receivers).
    pub allow_private_targets: bool,
    pub max_redirects: usize,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self { allow_private_targets: false, max_redirects: 3 }
    }
}

/// The range `ip` falls in, or `None` for a public unicast address.
pub fn classify(ip: IpAddr) -> Option<AddressRange> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressRange> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => AddressRange::Broadcast,
        (0, ..) => AddressRange::Unspecified,
        (127, ..) => AddressRange::Loopback,
        (169, 254, _) => AddressRange::LinkLocal,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => AddressRange::Private,
        (100, 64..=127, _) => AddressRange::SharedCgnat,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressRange::Documentation,
        (224..=239, ..) => AddressRange::Multicast,
        (192, 0, 0) | (198, 18..=19, _) | (240..=255, ..) => AddressRange::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressRange> {
    let seg = ip.segments();
    Some(match seg {
        _ if ip.is_unspecified() => AddressRange::Unspecified,
        _ if ip.is_loopback() => AddressRange::Loopback,
        [0, 0, 0, 0, 0, 0xffff, ..] => AddressRange::Ipv4Mapped,
        // NAT64 and 6to4 carry an IPv4 address that decides.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return classify_v4(v4_of(hi, lo)),
        [0x2002, hi, lo, ..] => return classify_v4(v4_of(hi, lo)),
        // IPv4-compatible (deprecated) addresses.
        [0, 0, 0, 0, 0, 0, ..] => AddressRange::Reserved,
        [s, ..] if s & 0xfe00 == 0xfc00 => AddressRange::UniqueLocal,
        [s, ..] if s & 0xffc0 == 0xfe80 => AddressRange::LinkLocal,
        [s, ..] if s & 0xffc0 == 0xfec0 => AddressRange::Private,
        [s, ..] if s & 0xff00 == 0xff00 => AddressRange::Multicast,
        [0x2001, 0xdb8, ..] => AddressRange::Documentation,
        _ => return None,
    })
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

impl UrlPolicy {
    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), UrlGuardError> {
        if self.allow_private_targets {
            return Ok(());
        }
        match classify(addr) {
            None => Ok(()),
            Some(range) => Err(UrlGuardError::ForbiddenAddress { host: host.to_owned(), addr, range }),
        }
    }

    /// Scheme, host and (for IP literals, which never reach a resolver) address checks.
    pub fn check_syntax(&self, url: &str) -> Result<Url, UrlGuardError> {
        let url = Url::parse(url).map_err(|e| UrlGuardError::Malformed(e.to_string()))?;
        self.check_parsed(&url)?;
        Ok(url)
    }

    fn check_parsed(&self, url: &Url) -> Result<(), UrlGuardError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlGuardError::UnsupportedScheme(url.scheme().to_owned()));
        }
        match url.host() {
            None => Err(UrlGuardError::MissingHost),
            Some(url::Host::Ipv4(v4)) => self.check_addr(&v4.to_string(), IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check_addr(&v6.to_string(), IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => Ok(()),
        }
    }

    /// Full check for accepting a URL from a request: syntax, then every address the host
    /// resolves to must be allowed.
    pub async fn check(&self, url: &str) -> Result<Url, UrlGuardError> {
        let parsed = self.check_syntax(url)?;
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let addrs = lookup(host).await?;
            for a in addrs {
                self.check_addr(host, a.ip())?;
            }
        }
        Ok(parsed)
    }
}

async fn lookup(host: &str) -> Result<Vec<SocketAddr>, UrlGuardError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| UrlGuardError::Unresolvable { host: host.to_owned(), detail: e.to_string() })?
        .collect();
    if addrs.is_empty() {
        return Err(UrlGuardError::Unresolvable { host: host.to_owned(), detail: "no addresses".into() });
    }
    Ok(addrs)
}

/// Resolves like the system does, then drops forbidden addresses; a name left with none
/// fails the connection with [`UrlGuardError::ForbiddenAddress`].
#[derive(Debug)]
struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all = lookup(&host).await?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match policy.check_addr(&host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(e)) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// An HTTP client for user-supplied URLs: every connection goes through the guard.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    policy: UrlPolicy,
}

impl GuardedClient {
    pub fn new(policy: UrlPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let redirect_policy = policy;
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            // A proxy would resolve names itself, out of the guard's sight.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > redirect_policy.max_redirects {
                    return attempt.error(UrlGuardError::TooManyRedirects(redirect_policy.max_redirects));
                }
                match redirect_policy.check_parsed(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .build()?;
        Ok(Self { client, policy })
    }

    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// A request to a user-supplied URL; refuses bad schemes and forbidden IP literals here,
    /// forbidden resolved names at connect time.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, UrlGuardError> {
        let url = self.policy.check_syntax(url)?;
        Ok(self.client.request(method, url))
    }
}

/// The guard's refusal inside a failed request, if that is why it failed.
pub fn guard_error(err: &reqwest::Error) -> Option<&UrlGuardError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(g) = e.downcast_ref::<UrlGuardError>() {
            return Some(g);
        }
        source = e.source();
    }
    None
}

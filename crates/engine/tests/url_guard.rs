//! The URL guard: schemes, every forbidden range, names resolving to loopback, and
//! enforcement at connect time.

mod common;

use std::{net::IpAddr, time::Duration};

use reqwest::Method;
use taskgate_engine::url_guard::{AddressRange, GuardedClient, UrlGuardError, UrlPolicy, classify, guard_error};

const DENY: UrlPolicy = UrlPolicy { allow_private_targets: false, max_redirects: 3 };
const ALLOW: UrlPolicy = UrlPolicy { allow_private_targets: true, max_redirects: 3 };

#[test]
fn classify_rejects_each_forbidden_range() {
    use AddressRange::*;
    let cases: &[(&str, AddressRange)] = &[
        ("127.0.0.1", Loopback),
        ("127.255.0.9", Loopback),
        ("::1", Loopback),
        ("169.254.169.254", LinkLocal),
        ("fe80::1", LinkLocal),
        ("10.1.2.3", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("fec0::1", Private),
        ("100.64.0.1", SharedCgnat),
        ("100.127.255.254", SharedCgnat),
        ("fc00::1", UniqueLocal),
        ("fd12:3456::1", UniqueLocal),
        ("0.0.0.0", Unspecified),
        ("::", Unspecified),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("ff02::1", Multicast),
        ("255.255.255.255", Broadcast),
        ("192.0.2.1", Documentation),
        ("198.51.100.7", Documentation),
        ("203.0.113.9", Documentation),
        ("2001:db8::1", Documentation),
        ("::ffff:8.8.8.8", Ipv4Mapped),
        ("::ffff:127.0.0.1", Ipv4Mapped),
        ("64:ff9b::a00:1", Private),
        ("2002:7f00:1::", Loopback),
        ("198.18.0.1", Reserved),
        ("240.0.0.1", Reserved),
    ];
    for (ip, range) in cases {
        assert_eq!(classify(ip.parse::<IpAddr>().unwrap()), Some(*range), "{ip}");
    }
}

#[test]
fn classify_accepts_public_addresses() {
    for ip in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808"] {
        assert_eq!(classify(ip.parse::<IpAddr>().unwrap()), None, "{ip}");
    }
}

#[test]
fn only_http_and_https_are_allowed() {
    for url in ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"] {
        assert!(matches!(DENY.check_syntax(url), Err(UrlGuardError::UnsupportedScheme(_))), "{url}");
    }
    assert!(matches!(DENY.check_syntax("not a url"), Err(UrlGuardError::Malformed(_))));
    assert!(DENY.check_syntax("https://example.com/cb").is_ok());
}

#[test]
fn ip_literals_are_checked_without_dns() {
    let err = DENY.check_syntax("http://[::ffff:10.0.0.1]:8080/x").unwrap_err();
    assert!(matches!(err, UrlGuardError::ForbiddenAddress { range: AddressRange::Ipv4Mapped, .. }), "{err:?}");
    let err = DENY.check_syntax("http://169.254.169.254/latest/meta-data").unwrap_err();
    assert!(matches!(err, UrlGuardError::ForbiddenAddress { range: AddressRange::LinkLocal, .. }), "{err:?}");
    assert!(ALLOW.check_syntax("http://127.0.0.1/").is_ok());
}

#[tokio::test]
async fn hostname_resolving_to_loopback_is_refused_unless_allowed() {
    let err = DENY.check("http://localhost:1/cb").await.unwrap_err();
    assert!(matches!(err, UrlGuardError::ForbiddenAddress { range: AddressRange::Loopback, .. }), "{err:?}");
    assert!(ALLOW.check("http://localhost:1/cb").await.is_ok());
}

#[tokio::test]
async fn connect_time_resolution_refuses_private_targets() {
    let receiver = common::Receiver::start(0).await;
    let url = format!("http://localhost:{}/cb", receiver.addr.port());

    let denied = GuardedClient::new(DENY, Duration::from_secs(5)).unwrap();
    // A name passes the syntax check; the guard stops it when connecting.
    let err = denied.request(Method::POST, &url).unwrap().send().await.unwrap_err();
    assert!(
        matches!(guard_error(&err), Some(UrlGuardError::ForbiddenAddress { range: AddressRange::Loopback, .. })),
        "{err:?}"
    );
    assert!(receiver.hits().is_empty());

    let allowed = GuardedClient::new(ALLOW, Duration::from_secs(5)).unwrap();
    let res = allowed.request(Method::POST, &url).unwrap().body("{}").send().await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn redirects_are_limited() {
    let receiver = common::Receiver::start(0).await;
    let client = GuardedClient::new(ALLOW, Duration::from_secs(5)).unwrap();
    let url = format!("http://127.0.0.1:{}/loop", receiver.addr.port());
    let err = client.request(Method::POST, &url).unwrap().body("{}").send().await.unwrap_err();
    assert_eq!(guard_error(&err), Some(&UrlGuardError::TooManyRedirects(3)), "{err:?}");
}

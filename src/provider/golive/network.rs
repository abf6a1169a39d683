//! Network: the provider's API answers over TLS within the sender's `timeout`, and the
//! addresses its callbacks come from, for the firewall.
//!
//! Any HTTP answer counts (the API root may say 404): the item is about reaching the host.
//! Plain `http://` is accepted only on loopback (test fakes).
use std::time::Instant;

use super::{get, GoLiveContext, GoLiveItem};
use crate::config::META_GRAPH_URL;
use crate::config::{ProviderChoice, SenderConfig};

/// Gupshup's webhook source addresses, partner-docs.gupshup.io/docs/gupshup-ip-allowlisting
/// (the last four added April 15th, 2026).
pub const GUPSHUP_CALLBACK_IPS: &[&str] = &[
    "34.202.224.208",
    "52.66.99.126",
    "15.206.217.7",
    "13.126.35.181",
    "3.6.228.131",
    "13.232.173.180",
    "13.127.57.130",
    "13.234.143.231",
    "3.7.115.196",
    "13.232.49.3",
    "18.193.1.225",
    "3.68.131.220",
    "63.176.209.228",
    "63.183.31.123",
];

/// Meta publishes no fixed list: its webhooks come from its own network, AS32934.
pub const META_CALLBACK_SOURCES: &str =
    "Meta's network AS32934: whois -h whois.radb.net -- '-i origin AS32934' | grep ^route";

/// Whether a URL's host is this machine (so plain HTTP is a test, not a production setup).
pub fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h == "::1")
}

pub async fn check(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> GoLiveItem {
    let base = sc.base_url.clone().unwrap_or_else(|| match sc.provider {
        ProviderChoice::Meta => META_GRAPH_URL.to_string(),
        _ => "https://api.gupshup.io".to_string(),
    });
    let tls = base.starts_with("https://");
    if !tls && !is_loopback(&base) {
        return GoLiveItem::failed(
            id,
            "network",
            format!("{base} is not https"),
            format!("set senders.{id}.base_url to the provider's https URL (or leave it out)"),
        );
    }
    let started = Instant::now();
    match get(ctx.http.get(&base), sc.timeout).await {
        Ok(a) => GoLiveItem::ok(
            id,
            "network",
            format!(
                "{base} answered HTTP {} {} in {} ms (timeout {:?})",
                a.status,
                if tls { "over TLS" } else { "over plain HTTP (loopback)" },
                started.elapsed().as_millis(),
                sc.timeout
            ),
        ),
        Err(e) => GoLiveItem::failed(
            id,
            "network",
            format!(
                "{base} did not answer (gave up after {} ms, timeout {:?}): {e}",
                started.elapsed().as_millis(),
                sc.timeout
            ),
            format!("check senders.{id}.base_url (or leave it out for the provider's own), DNS, any proxy, and that outbound HTTPS (443) to it is allowed"),
        ),
    }
}

/// The firewall lines printed after the checklist, for the providers in use.
pub fn callback_sources(gupshup: bool, meta: bool) -> Vec<String> {
    let mut out = Vec::new();
    if gupshup {
        out.push(format!(
            "gupshup callbacks come from: {}",
            GUPSHUP_CALLBACK_IPS.join(" ")
        ));
    }
    if meta {
        out.push(format!("meta callbacks come from: {META_CALLBACK_SOURCES}"));
    }
    out
}

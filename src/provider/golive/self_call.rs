//! Public URL: tierpace calls its own `http.public_url` + `/healthz` from outside its process
//! (through DNS, the proxy and TLS the providers go through) and expects the daemon's `ok`.
//! A failure here means the providers' callbacks cannot arrive either.
use std::time::Duration;

use super::{get, network::is_loopback, GoLiveContext, GoLiveItem};

/// How long the self-call may take.
pub const SELF_CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn check(ctx: &GoLiveContext) -> GoLiveItem {
    let Some(url) = ctx.public("/healthz") else {
        return GoLiveItem::failed(
            "*",
            "public_url",
            "http.public_url is not set",
            "set http.public_url to the https URL the providers reach this daemon at",
        );
    };
    if !url.starts_with("https://") && !is_loopback(&url) {
        return GoLiveItem::failed(
            "*",
            "public_url",
            format!("{url} is not https: providers require https callbacks"),
            "put the daemon behind TLS (a reverse proxy) and set http.public_url to its https URL",
        );
    }
    match get(ctx.http.get(&url), SELF_CALL_TIMEOUT).await {
        Ok(a) if a.ok() && a.text.trim() == "ok" => {
            GoLiveItem::ok("*", "public_url", format!("{url} reached this daemon"))
        }
        Ok(a) => GoLiveItem::failed(
            "*",
            "public_url",
            format!("{url} answered {}, not tierpace's ok", a.words()),
            "route http.public_url to this daemon's http.listen (reverse proxy config)",
        ),
        Err(e) => GoLiveItem::failed(
            "*",
            "public_url",
            format!("{url}: {e}"),
            "start the daemon, open the port and check DNS, TLS and the reverse proxy for http.public_url",
        ),
    }
}

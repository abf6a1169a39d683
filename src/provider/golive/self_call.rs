//! Public URL: tierpace calls its own `http.public_url` + `/healthz?nonce=N` from outside its
//! process (through DNS, the proxy and TLS the providers go through), with a fresh random N,
//! and expects this daemon's proof for N ([`crate::http::self_proof`]). A plain `ok` (another
//! server), another tierpace's proof (another key) or an old answer (another nonce) fails: the
//! providers' callbacks would not reach this daemon either.
//!
//! Inside the daemon the proof is checked with its own key; `check --online` asks the daemon
//! at `http.listen` for its proof of the same nonce and compares.
use std::time::Duration;

use super::{get, network::is_loopback, GoLiveContext, GoLiveItem, SelfProofCheck};
use crate::http::self_proof::{new_nonce, proof_in};

/// How long the self-call may take.
pub const SELF_CALL_TIMEOUT: Duration = Duration::from_secs(10);

const ITEM: &str = "public_url";

pub async fn check(ctx: &GoLiveContext) -> GoLiveItem {
    let Some(base) = ctx.public("/healthz") else {
        return GoLiveItem::failed(
            "*",
            ITEM,
            "http.public_url is not set",
            "set http.public_url to the https URL the providers reach this daemon at",
        );
    };
    if !base.starts_with("https://") && !is_loopback(&base) {
        return GoLiveItem::failed(
            "*",
            ITEM,
            format!("{base} is not https: providers require https callbacks"),
            "put the daemon behind TLS (a reverse proxy) and set http.public_url to its https URL",
        );
    }
    let nonce = new_nonce();
    let fix_route = "route http.public_url to this daemon's http.listen (reverse proxy config)";
    let answer = match get(
        ctx.http.get(&base).query(&[("nonce", &nonce)]),
        SELF_CALL_TIMEOUT,
    )
    .await
    {
        Ok(a) if a.ok() => a,
        Ok(a) => {
            return GoLiveItem::failed(
                "*",
                ITEM,
                format!("{base} answered {}, not tierpace's ok", a.words()),
                fix_route,
            )
        }
        Err(e) => return GoLiveItem::failed(
            "*",
            ITEM,
            format!("{base}: {e}"),
            "start the daemon, open the port and check DNS, TLS and the reverse proxy for http.public_url",
        ),
    };
    let Some(seen) = proof_in(&answer.text) else {
        return GoLiveItem::failed(
            "*",
            ITEM,
            format!(
                "{base} answered {:?} without tierpace's proof: the request did not reach a tierpace daemon (or one older than this check)",
                answer.text.trim().chars().take(80).collect::<String>()
            ),
            fix_route,
        );
    };
    let expected = match &ctx.self_proof {
        SelfProofCheck::Key(key) => key.prove(&nonce),
        SelfProofCheck::Listen(addr) => {
            let mut addr = *addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let local = format!("http://{addr}/healthz");
            match get(ctx.http.get(&local).query(&[("nonce", &nonce)]), SELF_CALL_TIMEOUT).await {
                Ok(a) => match proof_in(&a.text) {
                    Some(p) => p.to_string(),
                    None => return GoLiveItem::unknown(
                        "*",
                        ITEM,
                        format!("{base} reached a tierpace daemon, but the one at http.listen ({addr}) gave no proof to compare with"),
                    ),
                },
                Err(e) => {
                    return GoLiveItem::unknown(
                        "*",
                        ITEM,
                        format!("{base} reached a tierpace daemon; cannot tell whether it is this config's: the daemon at http.listen ({addr}) did not answer: {e}"),
                    )
                }
            }
        }
    };
    if seen == expected {
        GoLiveItem::ok(
            "*",
            ITEM,
            format!("{base} reached this daemon (nonce proof matched)"),
        )
    } else {
        GoLiveItem::failed(
            "*",
            ITEM,
            format!("{base} reached another tierpace daemon, not this one (its proof for the nonce differs)"),
            fix_route,
        )
    }
}

//! The accept loop: what `axum::serve` does, plus the limits a listener that faces the internet
//! needs (issue #16 §4).
//!
//! - **A cap on connections** (`max_connections`): past it, new connections wait in the kernel's
//!   backlog instead of taking file descriptors, so a crowd of idle clients cannot make `accept`
//!   fail with EMFILE, nor starve the daemon's own files (campaigns, audiences) of descriptors.
//! - **Client timeouts** (`client_timeout`): request headers must arrive within it (an idle
//!   connection, new or kept alive, is closed then), and a request body must keep coming (tower-http's
//!   `RequestBodyTimeoutLayer`): a client trickling bytes cannot hold a slot for long.
//! - **A bounded drain**: on shutdown in-flight requests get `drain_timeout` to finish, then every
//!   connection is closed, whatever the clients do, so SIGTERM ends within systemd's stop timeout.
//! - An `accept` error (EMFILE despite all this) backs off for 100 ms instead of spinning.
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_layer::Layer as _;

/// How many clients the listener serves at once and how long it waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections served at once (default 512: half the usual 1,024 descriptor limit).
    pub max_connections: usize,
    /// Longest wait for a request's headers, and between two parts of its body (default 10 s).
    pub client_timeout: Duration,
    /// How long in-flight requests may finish after shutdown starts (the daemon's `drain_timeout`).
    pub drain_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            client_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains for at most
/// `limits.drain_timeout` and closes whatever is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: ListenerLimits,
) -> std::io::Result<()> {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.client_timeout));
    let slots = std::sync::Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut accept_errors_logged = false;
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !accept_errors_logged {
                        tracing::warn!(error = %e, "HTTP accept failed; backing off (is the descriptor limit too low?)");
                        accept_errors_logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        accept_errors_logged = false;
        // The peer address goes on every request of the connection: the webhooks' source
        // allowlists and the per-source rate limits read it (`super::source`).
        let service = TowerToHyperService::new(
            axum::Extension(axum::extract::ConnectInfo(peer)).layer(router.clone()),
        );
        let stop = shutdown.clone();
        let header_timeout = limits.client_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "HTTP clients still connected after the drain timeout; closing them"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}

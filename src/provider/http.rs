//! The HTTP plumbing both real providers share: the client, and the bounded retry loop that
//! decides, per attempt, between "done", "retry" and "may have gone out".
//!
//! The line this file draws (DOMAIN.md §3 and the decided retry policy): an error *before* the
//! request was written (connect refused, connect timeout) is safe to retry; a timeout or a broken
//! connection *after* it was written may have sent the message, so it ends as
//! [`SendOutcome::Unknown`] and is never retried — Gupshup has no idempotency key.
use std::future::Future;
use std::time::Duration;

use super::outcome::{Failure, FailureClass};
use super::retry::Backoff;
use super::SendOutcome;

/// Builds the HTTP client the providers share: connection reuse, a connect timeout shorter
/// than any request timeout (so a dead host is a *connect* error, retried safely), no redirects
/// (a redirected POST could be sent twice), no proxy surprises from the environment.
pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("tierpace/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What one attempt came to.
pub(crate) enum Attempt {
    /// A final answer.
    Done(SendOutcome),
    /// Transient; try again after the backoff (or the provider's `Retry-After`). `failure` is the
    /// answer if no attempts are left.
    Retry {
        failure: Failure,
        retry_after: Option<Duration>,
    },
}

/// Runs `attempt` up to `max_attempts` times (at least once), sleeping with full jitter between.
pub(crate) async fn with_retries<F, Fut>(
    max_attempts: u32,
    backoff: Backoff,
    mut attempt: F,
) -> SendOutcome
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let max_attempts = max_attempts.max(1);
    let mut n = 0;
    loop {
        match attempt(n).await {
            Attempt::Done(outcome) => return outcome,
            Attempt::Retry {
                failure,
                retry_after,
            } => {
                n += 1;
                if n >= max_attempts {
                    tracing::warn!(
                        code = %failure.code,
                        class = %failure.class,
                        attempts = n,
                        "provider send gave up after retries"
                    );
                    return SendOutcome::Failed(failure);
                }
                let wait = backoff.delay_with_hint(n - 1, retry_after, &mut rand::thread_rng());
                tracing::debug!(code = %failure.code, attempt = n, wait_ms = wait.as_millis() as u64, "provider send retry");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Sends one request and hands its status, body and `Retry-After` to the provider's own
/// `classify`; transport errors (and a 2xx whose body was lost) are classified here, the same
/// for every provider.
pub(crate) async fn attempt(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    classify: fn(u16, &str, Option<Duration>) -> Attempt,
) -> Attempt {
    let resp = match request.timeout(timeout).send().await {
        Ok(resp) => resp,
        Err(err) => return transport_error(&err, timeout),
    };
    let status = resp.status().as_u16();
    let hint = retry_after(&resp);
    let body = match resp.text().await {
        Ok(body) => body,
        Err(err) if (200..300).contains(&status) => return transport_error(&err, timeout),
        Err(_) => String::new(),
    };
    classify(status, &body, hint)
}

/// Classifies a transport error from reqwest: retry only when the request cannot have left.
pub(crate) fn transport_error(err: &reqwest::Error, timeout: Duration) -> Attempt {
    if err.is_connect() {
        return Attempt::Retry {
            failure: Failure {
                class: FailureClass::Unavailable,
                code: "connect".into(),
                detail: format!("could not connect: {}", root_cause(err)),
                reached_whatsapp: false,
            },
            retry_after: None,
        };
    }
    if err.is_builder() {
        // A malformed base URL or header: nothing was sent, and retrying will not help.
        return Attempt::Done(SendOutcome::Failed(Failure {
            class: FailureClass::Unknown,
            code: "invalid_request".into(),
            detail: root_cause(err),
            reached_whatsapp: false,
        }));
    }
    let detail = if err.is_timeout() {
        format!("no answer within {timeout:?} after the request was sent; it may have gone out")
    } else {
        format!(
            "connection failed after the request was sent ({}); it may have gone out",
            root_cause(err)
        )
    };
    Attempt::Done(SendOutcome::Unknown { detail })
}

/// The innermost error text, without the URL reqwest puts in its own message.
fn root_cause(err: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// A provider's error text, cut to a length fit for a log line or a contact state.
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// `Retry-After` in seconds, if the response has one.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(super::retry::parse_retry_after)
}

//! Building the Redis clients the config asks for: one URL (plain, TLS or a unix socket), a
//! Cluster's seeds, or a Sentinel-watched master, with the TLS files read by reference.
//!
//! TLS is rustls (as for the providers' HTTPS), with the web PKI roots compiled in, like
//! reqwest's `rustls-tls`: the same trust on every host, no dependence on the system store.
//! A private CA is given with `redis_tls_ca_file`; a client certificate with
//! `redis_tls_cert_file` / `redis_tls_key_file`. Relative paths resolve against
//! `$CREDENTIALS_DIRECTORY` like every other secret file (`LoadCredential=` in the unit).
//! Building reads and parses those files but does not connect, so `tierpace check` can run it
//! offline and name the key of a bad file.
use std::path::PathBuf;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo as _, TlsCertificates, TlsMode};

use crate::config::{node_url, DaemonConfig, SentinelConfig};
use crate::secret::{SecretError, SecretSource};

/// Why a Redis client cannot be built from the config. Names the key, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum RedisConnectError {
    #[error("{key}: {source}")]
    File {
        key: &'static str,
        source: SecretError,
    },
    #[error("{key}: {path} holds no PEM `{marker}` block")]
    NotPem {
        key: &'static str,
        path: PathBuf,
        marker: &'static str,
    },
    #[error("{key}: {source}")]
    Client {
        key: &'static str,
        source: redis::RedisError,
    },
}

/// The client for `redis_url` (TLS files applied to a `rediss://` URL).
pub fn single_client(cfg: &DaemonConfig) -> Result<redis::Client, RedisConnectError> {
    let url = cfg.redis_url.as_str();
    let client = match tls_certificates(cfg)? {
        Some(certs) if crate::config::is_tls_url(url) => redis::Client::build_with_tls(url, certs),
        _ => redis::Client::open(url),
    };
    client.map_err(|source| RedisConnectError::Client {
        key: "redis_url",
        source,
    })
}

/// The Cluster client for the `redis_cluster` seeds.
///
/// Like the single-node manager (`ledger::redis::manager_config`) it fails fast while a master
/// does not answer: the client's defaults (no response timeout, 16 retries with waits growing
/// to minutes) would leave sends and the readiness PING hanging on a frozen master instead of
/// reporting Redis as unavailable, so the dispatchers retry on their own tick instead.
pub fn cluster_client(
    cfg: &DaemonConfig,
) -> Result<redis::cluster::ClusterClient, RedisConnectError> {
    let urls: Vec<String> = cfg.redis_cluster.iter().map(|s| node_url(s)).collect();
    let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
        .connection_timeout(std::time::Duration::from_secs(2))
        .response_timeout(std::time::Duration::from_secs(5))
        .retries(2)
        .min_retry_wait(100)
        .max_retry_wait(500);
    if let Some(certs) = tls_certificates(cfg)? {
        builder = builder.certs(certs);
    }
    builder.build().map_err(|source| RedisConnectError::Client {
        key: "redis_cluster",
        source,
    })
}

/// The Sentinel client that finds `redis_sentinel.master` (see `daemon::sentinel` for the
/// connection that follows a failover).
pub fn sentinel_client(
    cfg: &DaemonConfig,
    s: &SentinelConfig,
) -> Result<SentinelClient, RedisConnectError> {
    let client_err = |source| RedisConnectError::Client {
        key: "redis_sentinel",
        source,
    };
    let nodes = s
        .nodes
        .iter()
        .map(|n| node_url(n).into_connection_info().map(|i| i.addr))
        .collect::<Result<Vec<_>, _>>()
        .map_err(client_err)?;
    let sentinels_tls = nodes
        .iter()
        .any(|a| matches!(a, ConnectionAddr::TcpTls { .. }));
    let certs = tls_certificates(cfg)?;
    let mut b = SentinelClientBuilder::new(nodes, s.master.clone(), SentinelServerType::Master)
        .map_err(client_err)?;
    if s.tls {
        b = b.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(c) = &certs {
            b = b.set_client_to_redis_certificates(c.clone());
        }
    }
    if sentinels_tls {
        if let Some(c) = certs {
            b = b.set_client_to_sentinel_certificates(c);
        }
    }
    if let Some(p) = optional_secret(
        &s.password_env,
        &s.password_file,
        "redis_sentinel.password_env",
        "redis_sentinel.password_file",
    )? {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(p) = optional_secret(
        &s.sentinel_password_env,
        &s.sentinel_password_file,
        "redis_sentinel.sentinel_password_env",
        "redis_sentinel.sentinel_password_file",
    )? {
        b = b.set_client_to_sentinel_password(p);
    }
    b.build().map_err(client_err)
}

/// Builds (without connecting) whichever client the config uses: what `check` runs offline.
pub fn check_offline(cfg: &DaemonConfig) -> Result<(), RedisConnectError> {
    match (&cfg.redis_sentinel, cfg.redis_cluster.is_empty()) {
        (Some(s), _) => sentinel_client(cfg, s).map(drop),
        (None, false) => cluster_client(cfg).map(drop),
        (None, true) => single_client(cfg).map(drop),
    }
}

/// The `redis_tls_*` files as the client takes them, or `None` when none is set (a `rediss://`
/// URL then trusts the web PKI roots and sends no client certificate).
fn tls_certificates(cfg: &DaemonConfig) -> Result<Option<TlsCertificates>, RedisConnectError> {
    let root_cert = read(&cfg.redis_tls_ca_file, "redis_tls_ca_file", CERTIFICATE)?;
    let cert = read(&cfg.redis_tls_cert_file, "redis_tls_cert_file", CERTIFICATE)?;
    let key = read(&cfg.redis_tls_key_file, "redis_tls_key_file", PRIVATE_KEY)?;
    if root_cert.is_none() && cert.is_none() {
        return Ok(None);
    }
    let client_tls = match (cert, key) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        // `validate` reports a certificate without its key (and the reverse).
        _ => None,
    };
    let certs = TlsCertificates {
        client_tls,
        root_cert,
    };
    // Parse now, so a file that is not PEM is reported under its key, not at first connect.
    redis::Client::build_with_tls("rediss://127.0.0.1/", certs.clone()).map_err(|source| {
        RedisConnectError::Client {
            key: "redis_tls_ca_file / redis_tls_cert_file / redis_tls_key_file",
            source,
        }
    })?;
    Ok(Some(certs))
}

const CERTIFICATE: &str = "CERTIFICATE-----";
const PRIVATE_KEY: &str = "PRIVATE KEY-----";

/// A file named by the config, read like a secret file (relative to `$CREDENTIALS_DIRECTORY`).
/// It must hold a PEM block ending in `marker`: the PEM reader skips anything else silently, so
/// a wrong file would otherwise become an empty trust store.
fn read(
    path: &Option<PathBuf>,
    key: &'static str,
    marker: &'static str,
) -> Result<Option<Vec<u8>>, RedisConnectError> {
    let Some(p) = path else { return Ok(None) };
    let text = SecretSource::File(p.clone())
        .load()
        .map_err(|source| RedisConnectError::File { key, source })?;
    if !text
        .expose()
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(marker))
    {
        return Err(RedisConnectError::NotPem {
            key,
            path: p.clone(),
            marker: marker.trim_end_matches('-'),
        });
    }
    // The loader strips one trailing newline; PEM parsers want the last line ended.
    Ok(Some(format!("{}\n", text.expose()).into_bytes()))
}

fn optional_secret(
    env: &Option<String>,
    file: &Option<PathBuf>,
    env_key: &'static str,
    file_key: &'static str,
) -> Result<Option<String>, RedisConnectError> {
    if env.is_none() && file.is_none() {
        return Ok(None);
    }
    SecretSource::from_keys(env.clone(), file.clone(), env_key, file_key)
        .and_then(|s| s.load())
        .map(|s| Some(s.expose().to_string()))
        .map_err(|source| RedisConnectError::File {
            key: file_key,
            source,
        })
}

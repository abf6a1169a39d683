//! Proof that a request reached this daemon (issue #21, the public-URL self-call).
//!
//! `GET /healthz?nonce=N` answers `ok tierpace-proof=HEX`, HEX being HMAC-SHA256 of the nonce
//! under a key each daemon draws at start and never shows. The go-live check calls
//! `{http.public_url}/healthz?nonce=<fresh random>` and compares the proof with its own: a
//! proxy that routes to another tierpace (another key), any other server answering `ok`, or a
//! cache replaying an old answer (another nonce) cannot produce it. `tierpace check --online`,
//! a separate process, asks the daemon at `http.listen` for the same nonce and compares the two.
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Written before the proof in `/healthz`'s answer.
pub const PROOF_PREFIX: &str = "tierpace-proof=";

/// A daemon's proof key: 32 random bytes, drawn once per daemon.
#[derive(Clone)]
pub struct SelfProofKey([u8; 32]);

impl std::fmt::Debug for SelfProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfProofKey(..)")
    }
}

impl SelfProofKey {
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The proof for `nonce`: lowercase hex of HMAC-SHA256(key, nonce).
    pub fn prove(&self, nonce: &str) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts a 32-byte key");
        mac.update(nonce.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A nonce worth answering: 16 to 128 characters of `[A-Za-z0-9_-]`.
pub fn valid_nonce(nonce: &str) -> bool {
    (16..=128).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A fresh nonce for one self-call.
pub fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The proof in a `/healthz` answer, if it carries one.
pub fn proof_in(answer: &str) -> Option<&str> {
    answer
        .split_whitespace()
        .find_map(|w| w.strip_prefix(PROOF_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_daemons_prove_the_same_nonce_differently() {
        let (a, b) = (SelfProofKey::random(), SelfProofKey::random());
        let n = new_nonce();
        assert!(valid_nonce(&n));
        assert_eq!(a.prove(&n), a.prove(&n));
        assert_ne!(a.prove(&n), b.prove(&n));
        assert_ne!(a.prove(&n), a.prove(&new_nonce()));
        let answer = format!("ok {PROOF_PREFIX}{}\n", a.prove(&n));
        assert_eq!(proof_in(&answer), Some(a.prove(&n).as_str()));
        assert_eq!(proof_in("ok\n"), None);
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("has spaces in it, not a nonce"));
    }
}

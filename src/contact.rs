//! Contacts as the rest of tierpace sees them: an [`E164`] number (only the audience normaliser
//! builds one) and its [`ContactKey`], a keyed SipHash-1-3 of the number.
//!
//! Redis never holds raw phone numbers (DESIGN.md §2, guarantee 7): the ledger, the consent store
//! and campaign progress are all keyed by `ContactKey`. The hash key is a secret from the daemon
//! config, so the keys cannot be reversed by enumerating the (small) space of phone numbers.
use std::fmt;
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// A phone number in E.164 form, digits only, without the `+` (e.g. `5585999990000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Wraps digits that the caller has already validated as a full international number.
    /// Only the audience normaliser and the admin API's number parser should call this.
    pub fn from_validated_digits(digits: String) -> Self {
        debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        Self(digits)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keyed 128-bit hash of an E.164 number: how every store names a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey(pub u128);

impl ContactKey {
    /// The fixed-width hex form used in Redis members and logs (32 chars).
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Self)
    }
}

impl fmt::Display for ContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Turns numbers into [`ContactKey`]s with the deployment's secret key.
#[derive(Clone)]
pub struct ContactHasher {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for ContactHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContactHasher(<secret>)")
    }
}

impl ContactHasher {
    /// Derives the two SipHash keys from a secret of any length.
    pub fn new(secret: &[u8]) -> Self {
        // Stretch the secret into 128 bits with an unkeyed SipHash of each half-tagged copy:
        // any secret length works and the same secret always gives the same keys.
        let derive = |tag: u8| {
            let mut h = SipHasher13::new_with_keys(0x7469_6572_7061_6365, u64::from(tag));
            h.write(secret);
            h.finish()
        };
        Self {
            k0: derive(0),
            k1: derive(1),
        }
    }

    pub fn key(&self, number: &E164) -> ContactKey {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(number.as_str().as_bytes());
        ContactKey(h.finish128().as_u128())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> E164 {
        E164::from_validated_digits(s.to_string())
    }

    #[test]
    fn same_secret_same_key_other_secret_other_key() {
        let a = ContactHasher::new(b"secret-a");
        let b = ContactHasher::new(b"secret-b");
        let n = num("5585999990000");
        assert_eq!(a.key(&n), ContactHasher::new(b"secret-a").key(&n));
        assert_ne!(a.key(&n), b.key(&n));
        assert_ne!(a.key(&n), a.key(&num("5585999990001")));
    }

    #[test]
    fn hex_round_trips() {
        let k = ContactHasher::new(b"s").key(&num("5511912345678"));
        assert_eq!(ContactKey::from_hex(&k.to_hex()), Some(k));
        assert_eq!(ContactKey::from_hex("zz"), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let h = ContactHasher::new(b"topsecret");
        assert!(!format!("{h:?}").contains("topsecret"));
    }
}

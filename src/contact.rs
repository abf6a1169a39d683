//! Contacts as the rest of tierpace sees them: an [`E164`] number (only the audience normaliser
//! builds one) and its [`ContactKey`], a keyed SipHash-1-3 of the number.
//!
//! Redis never holds raw phone numbers (DESIGN.md §2, guarantee 7): the ledger, the consent store
//! and campaign progress are all keyed by `ContactKey`. The hash key is a secret from the daemon
//! config, so the keys cannot be reversed by enumerating the (small) space of phone numbers.
//!
//! One customer, one key: a Brazilian mobile has two spellings, today's 55 + DDD + 9 + 8 digits
//! and the 55 + DDD + 8 digits it had before Anatel added the 9th digit (2012-2016). WhatsApp
//! accounts created before then still carry the old id in every webhook, while CRMs hold the new
//! form. [`ContactHasher::key`] hashes the *identity* ([`E164::identity`]), which is always the
//! 13-digit form, so both spellings give one key, and keys stored for 13-digit numbers before this
//! rule existed are unchanged. [`ContactHasher::legacy_key`] is the key older tierpace versions
//! stored for the 12-digit spelling: the consent check also looks it up (migration, see
//! `campaign::consent`). Landlines (subscriber numbers starting 2-5) have one spelling only.
use std::fmt;
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// A phone number in E.164 form, digits only, without the `+` (e.g. `5585999990000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Wraps digits that the caller has already validated as a full international number.
    /// Only the normaliser (`campaign::phone`) should call this outside tests.
    pub fn from_validated_digits(digits: String) -> Self {
        debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        Self(digits)
    }

    /// The digits as they go on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The customer's identity: the number itself, except that a Brazilian mobile written the
    /// pre-2016 way (55 + DDD + 8 digits starting 6-9) is given its 9th digit.
    pub fn identity(&self) -> std::borrow::Cow<'_, str> {
        match brazil_old_mobile(&self.0) {
            Some((ddd, subscriber)) => format!("55{ddd}9{subscriber}").into(),
            None => self.0.as_str().into(),
        }
    }

    /// The pre-2016 spelling of a Brazilian mobile (55 + DDD + 8 digits), when this number is
    /// one whose 8-digit subscriber number starts 6-9; `None` for every other number.
    pub fn pre_ninth_digit_form(&self) -> Option<E164> {
        let identity = self.identity();
        let b = identity.as_bytes();
        let is_mobile = b.len() == 13 && identity.starts_with("55") && b[4] == b'9';
        (is_mobile && is_old_mobile_subscriber(&identity[5..]))
            .then(|| E164(format!("{}{}", &identity[..4], &identity[5..])))
    }
}

/// Whether an 8-digit Brazilian subscriber number is a mobile from before the 9th digit: those
/// started 6-9 (Anatel's plan); 2-5 are landlines, which never gained a digit.
pub fn is_old_mobile_subscriber(subscriber: &str) -> bool {
    subscriber.len() == 8 && matches!(subscriber.as_bytes()[0], b'6'..=b'9')
}

/// `(DDD, subscriber)` of a 12-digit Brazilian mobile in the old form.
fn brazil_old_mobile(digits: &str) -> Option<(&str, &str)> {
    let rest = digits.strip_prefix("55").filter(|r| r.len() == 10)?;
    let (ddd, subscriber) = rest.split_at(2);
    is_old_mobile_subscriber(subscriber).then_some((ddd, subscriber))
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

    /// The contact's key: the hash of its identity, the same for both spellings of a
    /// Brazilian mobile.
    pub fn key(&self, number: &E164) -> ContactKey {
        self.hash(&number.identity())
    }

    /// The key tierpace stored before the identity rule for the pre-9th-digit spelling of a
    /// Brazilian mobile (an opt-out from a 12-digit WhatsApp id); `None` for other numbers.
    pub fn legacy_key(&self, number: &E164) -> Option<ContactKey> {
        number
            .pre_ninth_digit_form()
            .map(|old| self.hash(old.as_str()))
    }

    fn hash(&self, digits: &str) -> ContactKey {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(digits.as_bytes());
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

    /// Keys already in Redis were hashed from the digits as given (tierpace before the identity
    /// rule): for every number that is not an old-form mobile they must not change. Pinned values.
    #[test]
    fn keys_stored_before_the_identity_rule_are_unchanged() {
        let h = ContactHasher::new(b"pinned-secret");
        let hex = |n: &str| h.key(&num(n)).to_hex();
        assert_eq!(hex("5585999990001"), "e00d24dd58f6fb0c22fb86c66f1bd53e");
        assert_eq!(hex("551134567890"), "7a43460d907e37bb7436f5bc43e12036");
        assert_eq!(hex("14155552671"), "e5db1f31003969600c94c1b2b1bbf15f");
        // What old code stored for the 12-digit WhatsApp id is the legacy key of the contact.
        assert_eq!(
            h.legacy_key(&num("5585999990001")).map(ContactKey::to_hex),
            Some("17cedf547fd1c7b5d3cf4ff5b6d3c619".to_string())
        );
    }

    #[test]
    fn both_spellings_of_a_brazilian_mobile_are_one_contact() {
        let h = ContactHasher::new(b"s");
        assert_eq!(h.key(&num("558599990001")), h.key(&num("5585999990001")));
        assert_eq!(num("558599990001").identity(), "5585999990001");
        assert_eq!(
            num("5585999990001").pre_ninth_digit_form(),
            Some(num("558599990001"))
        );
        assert_eq!(
            h.legacy_key(&num("558599990001")),
            h.legacy_key(&num("5585999990001"))
        );
    }

    #[test]
    fn landlines_and_other_countries_have_one_spelling() {
        let h = ContactHasher::new(b"s");
        for n in [
            "551134567890",
            "555133221100",
            "14155552671",
            "447911123456",
        ] {
            assert_eq!(num(n).identity(), n);
            assert_eq!(h.legacy_key(&num(n)), None, "{n}");
        }
        // A 9-digit mobile whose 8-digit tail starts 2-5 never had an old form.
        assert_eq!(num("5511923456789").pre_ninth_digit_form(), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let h = ContactHasher::new(b"topsecret");
        assert!(!format!("{h:?}").contains("topsecret"));
    }
}

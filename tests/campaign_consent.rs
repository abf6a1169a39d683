//! The consent store: one suite, run against memory, a real redis-server and a real 3-master
//! Redis Cluster (guarantee 3: opted-out contacts are never sent, whichever backend keeps the
//! opt-outs).
mod support;

use chrono::{TimeZone, Utc};
use tierpace::campaign::{
    opt_in_any, opted_out_any, read_optout_file, split_opted_out, AudienceReader, AudienceSpec,
    Category, ColumnNames, ConsentError, ConsentScope, ConsentStore, ContactKeys, MemoryConsent,
    OptOutCounts, OptOutSource, RedisConsent, SkipReason,
};
use tierpace::contact::{ContactHasher, ContactKey, E164};

use support::redis_server::RedisServer;

fn key(n: u128) -> ContactKey {
    ContactKey(n * 0x9e37_79b9_7f4a_7c15)
}

/// The contract both backends must meet.
async fn conformance(store: &dyn ConsentStore) {
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let (a, b, c) = (key(1), key(2), key(3));
    assert_eq!(
        store.opted_out(&[a, b, c]).await.unwrap(),
        [false, false, false]
    );
    assert_eq!(store.count().await.unwrap(), 0);

    store.opt_out(b, OptOutSource::Keyword, t).await.unwrap();
    // Webhooks are retried: a second opt-out of the same contact changes nothing.
    store.opt_out(b, OptOutSource::Provider, t).await.unwrap();
    assert_eq!(
        store.opted_out(&[a, b, c]).await.unwrap(),
        [false, true, false]
    );
    assert_eq!(store.count().await.unwrap(), 1);

    store.opt_in(b, t).await.unwrap();
    assert_eq!(store.opted_out(&[b]).await.unwrap(), [false]);
    // Opting in someone who never opted out is harmless.
    store.opt_in(c, t).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);

    // Large batches keep order (the Redis backend splits them into chunks).
    let many: Vec<ContactKey> = (10..2510).map(key).collect();
    for k in many.iter().step_by(7) {
        store.opt_out(*k, OptOutSource::Admin, t).await.unwrap();
    }
    let got = store.opted_out(&many).await.unwrap();
    let want: Vec<bool> = (0..many.len()).map(|i| i % 7 == 0).collect();
    assert_eq!(got, want);
    assert_eq!(
        store.count().await.unwrap(),
        want.iter().filter(|w| **w).count() as u64
    );
    assert_eq!(store.opted_out(&[]).await.unwrap(), Vec::<bool>::new());
}

/// Replays (issue #22): every change carries its time; one older than the change it would undo
/// is refused as stale, and duplicates are idempotent.
async fn replay_conformance(store: &dyn ConsentStore) {
    use tierpace::campaign::consent::ConsentChange::{Changed, Stale, Unchanged};
    let t = |s: i64| {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
    };
    let (a, b, m) = (key(7001), key(7002), key(7003));
    // An old opted-in arriving after a newer opted-out changes nothing.
    assert_eq!(
        store
            .opt_out(a, OptOutSource::Provider, t(20))
            .await
            .unwrap(),
        Changed
    );
    assert_eq!(store.opt_in(a, t(10)).await.unwrap(), Stale);
    assert_eq!(store.opted_out(&[a]).await.unwrap(), [true]);
    // A repeat opt-out later moves the latest time on: an opt-in between the two is stale.
    assert_eq!(
        store
            .opt_out(a, OptOutSource::Keyword, t(40))
            .await
            .unwrap(),
        Unchanged
    );
    assert_eq!(store.opt_in(a, t(30)).await.unwrap(), Stale);
    assert_eq!(store.opted_out(&[a]).await.unwrap(), [true]);
    // A newer opt-in lifts; the opt-outs replayed after it change nothing.
    assert_eq!(store.opt_in(a, t(50)).await.unwrap(), Changed);
    assert_eq!(
        store
            .opt_out(a, OptOutSource::Provider, t(40))
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(
        store
            .opt_out(a, OptOutSource::Provider, t(20))
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(store.opted_out(&[a]).await.unwrap(), [false]);
    assert_eq!(
        store.opt_in(a, t(50)).await.unwrap(),
        Unchanged,
        "a duplicate"
    );
    // A later opt-out applies again.
    assert_eq!(
        store
            .opt_out(a, OptOutSource::Provider, t(60))
            .await
            .unwrap(),
        Changed
    );
    assert_eq!(store.opted_out(&[a]).await.unwrap(), [true]);
    // An opt-in of someone never opted out is remembered: an older opt-out is stale.
    assert_eq!(store.opt_in(b, t(30)).await.unwrap(), Unchanged);
    assert_eq!(
        store
            .opt_out(b, OptOutSource::Provider, t(20))
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(store.opted_out(&[b]).await.unwrap(), [false]);
    // Marketing: a resume older than the stop is stale; a resume does not shut out an older
    // opt-out of everything.
    assert_eq!(
        store
            .opt_out(m, OptOutSource::MarketingPreference, t(20))
            .await
            .unwrap(),
        Changed
    );
    assert_eq!(
        store.lift(m, ConsentScope::Marketing, t(10)).await.unwrap(),
        Stale
    );
    assert_eq!(
        store.scopes(&[m]).await.unwrap(),
        [Some(ConsentScope::Marketing)]
    );
    assert_eq!(
        store.lift(m, ConsentScope::Marketing, t(30)).await.unwrap(),
        Changed
    );
    assert_eq!(
        store
            .opt_out(m, OptOutSource::MarketingPreference, t(25))
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(
        store
            .opt_out(m, OptOutSource::Keyword, t(25))
            .await
            .unwrap(),
        Changed
    );
    assert_eq!(store.scopes(&[m]).await.unwrap(), [Some(ConsentScope::All)]);
}

#[tokio::test]
async fn memory_store_refuses_replays() {
    replay_conformance(&MemoryConsent::new()).await;
}

#[tokio::test]
async fn redis_store_refuses_replays() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let store = RedisConsent::new(client.get_connection_manager().await.unwrap(), "replays");
    replay_conformance(&store).await;
}

#[tokio::test]
async fn cluster_store_refuses_replays() {
    let cluster = support::redis_cluster::RedisCluster::shared();
    let store = RedisConsent::new(cluster.connect().await, "replays");
    replay_conformance(&store).await;
}

/// Scopes: a marketing opt-out stops marketing only; the broader scope wins; `resume` lifts
/// marketing only; an opt-in lifts any.
async fn scope_conformance(store: &dyn ConsentStore) {
    use ConsentScope::{All, Marketing};
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let later = t + chrono::Duration::hours(1);
    let (m, a, both, none) = (key(101), key(102), key(103), key(104));
    store
        .opt_out(m, OptOutSource::MarketingPreference, t)
        .await
        .unwrap();
    store.opt_out(a, OptOutSource::Keyword, t).await.unwrap();
    // Marketing first, then everything: widens to all, with the later source and time.
    store
        .opt_out(both, OptOutSource::MarketingPreference, t)
        .await
        .unwrap();
    store
        .opt_out(both, OptOutSource::Provider, later)
        .await
        .unwrap();
    // Everything first, then marketing: stays all.
    store
        .opt_out(a, OptOutSource::MarketingPreference, later)
        .await
        .unwrap();
    assert_eq!(
        store.scopes(&[m, a, both, none]).await.unwrap(),
        [Some(Marketing), Some(All), Some(All), None]
    );
    assert_eq!(
        store.counts().await.unwrap(),
        OptOutCounts {
            marketing: 1,
            all: 2
        }
    );
    assert_eq!(
        store
            .blocked(&[m, a, none], Category::Marketing)
            .await
            .unwrap(),
        [Some(Marketing), Some(All), None]
    );
    for category in [Category::Utility, Category::Authentication] {
        assert_eq!(
            store.blocked(&[m, a, none], category).await.unwrap(),
            [None, Some(All), None],
            "{category:?}"
        );
    }
    let rec = store.lookup(both).await.unwrap().unwrap();
    assert_eq!(
        (rec.scope, rec.source, rec.since),
        (All, Some(OptOutSource::Provider), Some(later))
    );
    let rec = store.lookup(m).await.unwrap().unwrap();
    assert_eq!(
        (rec.scope, rec.source, rec.since),
        (Marketing, Some(OptOutSource::MarketingPreference), Some(t))
    );
    assert_eq!(store.lookup(none).await.unwrap(), None);

    // `resume` lifts a marketing opt-out and leaves an opt-out of everything in force.
    store.lift(m, Marketing, later).await.unwrap();
    store.lift(a, Marketing, later).await.unwrap();
    assert_eq!(store.scopes(&[m, a]).await.unwrap(), [None, Some(All)]);
    // An opt-in (Gupshup opted-in, the admin API) lifts any scope.
    store
        .opt_out(m, OptOutSource::MarketingPreference, later)
        .await
        .unwrap();
    store.opt_in(m, later).await.unwrap();
    store.opt_in(a, later).await.unwrap();
    store.opt_in(both, later).await.unwrap();
    assert_eq!(
        store.scopes(&[m, a, both]).await.unwrap(),
        [None, None, None]
    );
    assert_eq!(store.counts().await.unwrap(), OptOutCounts::default());
}

#[tokio::test]
async fn memory_store_meets_the_contract() {
    conformance(&MemoryConsent::new()).await;
}

#[tokio::test]
async fn memory_store_keeps_the_scope_of_each_opt_out() {
    scope_conformance(&MemoryConsent::new()).await;
}

#[tokio::test]
async fn redis_store_keeps_the_scope_of_each_opt_out() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let store = RedisConsent::new(client.get_connection_manager().await.unwrap(), "scopes");
    assert_eq!(store.marketing_key(), "scopes:{optout}:marketing");
    scope_conformance(&store).await;
}

#[tokio::test]
async fn cluster_store_keeps_the_scope_of_each_opt_out() {
    let cluster = support::redis_cluster::RedisCluster::shared();
    let store = RedisConsent::new(cluster.connect().await, "scopes");
    scope_conformance(&store).await;
}

/// Opt-outs written by tierpace before scopes (one hash, `SOURCE UNIX_SECONDS`, as the current
/// main writes them) keep stopping every template.
#[tokio::test]
async fn opt_outs_stored_before_scopes_mean_all() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let (old_keyword, old_admin) = (key(201), key(202));
    // Written exactly as the pre-scope RedisConsent::opt_out wrote them (HSETNX on `{optout}`).
    for (k, v) in [
        (old_keyword, "keyword 1795780800"),
        (old_admin, "admin 1795780801"),
    ] {
        let _: bool = redis::cmd("HSETNX")
            .arg("legacy:{optout}")
            .arg(k.to_hex())
            .arg(v)
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    let store = RedisConsent::new(client.get_connection_manager().await.unwrap(), "legacy");
    assert_eq!(
        store.scopes(&[old_keyword, old_admin]).await.unwrap(),
        [Some(ConsentScope::All), Some(ConsentScope::All)]
    );
    for category in [
        Category::Marketing,
        Category::Utility,
        Category::Authentication,
    ] {
        assert_eq!(
            store
                .blocked(&[old_keyword, old_admin], category)
                .await
                .unwrap(),
            [Some(ConsentScope::All), Some(ConsentScope::All)]
        );
    }
    assert_eq!(
        store.counts().await.unwrap(),
        OptOutCounts {
            marketing: 0,
            all: 2
        }
    );
    let rec = store.lookup(old_keyword).await.unwrap().unwrap();
    assert_eq!(
        (rec.scope, rec.source, rec.since.map(|t| t.timestamp())),
        (
            ConsentScope::All,
            Some(OptOutSource::Keyword),
            Some(1795780800)
        )
    );
    // Meta's `resume` cannot lift an old opt-out; an operator's opt-in can.
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    store
        .lift(old_keyword, ConsentScope::Marketing, t)
        .await
        .unwrap();
    assert_eq!(
        store.scopes(&[old_keyword]).await.unwrap(),
        [Some(ConsentScope::All)]
    );
    store.opt_in(old_admin, t).await.unwrap();
    assert_eq!(store.scopes(&[old_admin]).await.unwrap(), [None]);
}

#[tokio::test]
async fn redis_store_meets_the_contract_and_keeps_one_hash_tagged_key() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    let store = RedisConsent::new(conn.clone(), "conformance");
    assert_eq!(store.key(), "conformance:{optout}");
    conformance(&store).await;

    // What Redis holds: contact key hex -> "source since latest" (unix seconds), never a phone
    // number; lifts are remembered by contact key in a second hash of the same slot.
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    store.opt_out(key(1), OptOutSource::Admin, t).await.unwrap();
    let mut raw = conn.clone();
    let value: Option<String> = redis::cmd("HGET")
        .arg("conformance:{optout}")
        .arg(key(1).to_hex())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("admin 1795780800 1795780800"));
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("conformance*")
        .query_async(&mut raw)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["conformance:{optout}", "conformance:{optout}:lifted"]
    );
}

#[tokio::test]
async fn cluster_store_meets_the_contract() {
    let cluster = support::redis_cluster::RedisCluster::shared();
    let store = RedisConsent::new(cluster.connect().await, "conformance");
    conformance(&store).await;
    // One hash, on the one master that serves its slot.
    let master = cluster.master_of(store.key());
    for &port in cluster.ports() {
        let want: Vec<String> = if port == master {
            vec![
                "conformance:{optout}".into(),
                "conformance:{optout}:lifted".into(),
            ]
        } else {
            Vec::new()
        };
        let mut got = cluster.keys_on(port, "conformance*");
        got.sort();
        assert_eq!(got, want, "node {port}");
    }
}

#[tokio::test]
async fn opt_outs_are_shared_by_every_store_on_one_redis() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let one = RedisConsent::new(client.get_connection_manager().await.unwrap(), "shared");
    let two = RedisConsent::new(client.get_connection_manager().await.unwrap(), "shared");
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    one.opt_out(key(42), OptOutSource::Keyword, t)
        .await
        .unwrap();
    assert_eq!(two.opted_out(&[key(42)]).await.unwrap(), [true]);
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let store = RedisConsent::new(conn, "down");
    server.stop();
    let err = store.opted_out(&[key(1)]).await.unwrap_err();
    assert!(matches!(err, ConsentError::Unavailable(_)), "{err:?}");
}

#[test]
fn the_optout_file_honours_good_lines_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optout.txt");
    std::fs::write(&path, "# numbers that asked to stop\n(85) 99999-0000\n\n+55 11 91234-5678  # via e-mail\nnot a number\n85 1234\n").unwrap();
    let h = ContactHasher::new(b"s");
    let (keys, errors) = read_optout_file(&path, "55", &h).unwrap();
    let k = |d: &str| h.key(&E164::from_validated_digits(d.to_string()));
    assert_eq!(keys, [k("5585999990000"), k("5511912345678")]);
    assert_eq!(
        errors,
        [
            format!("{}:5: phone holds `n`, expected digits, spaces, ( ) - . / or a leading +", path.display()),
            format!("{}:6: Brazilian number has 6 digits after the country code, expected 10 (landline) or 11 (mobile)", path.display()),
        ]
    );
    assert!(matches!(
        read_optout_file(&dir.path().join("none"), "55", &h),
        Err(ConsentError::File { .. })
    ));
}

#[tokio::test]
async fn a_batch_of_rows_loses_exactly_the_opted_out_contacts() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let store = RedisConsent::new(client.get_connection_manager().await.unwrap(), "split");
    let h = ContactHasher::new(b"s");
    let spec = AudienceSpec {
        file: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/campaigns/contacts/example.csv"),
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    };
    let rows: Vec<_> = AudienceReader::open(&spec, &[], &h)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(rows.len(), 16);
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    store
        .opt_out(rows[3].key, OptOutSource::Keyword, t)
        .await
        .unwrap();
    store
        .opt_out(rows[5].key, OptOutSource::MarketingPreference, t)
        .await
        .unwrap();
    let (send, skipped) = split_opted_out(&store, &h, rows.clone(), Category::Marketing)
        .await
        .unwrap();
    assert_eq!(send.len(), 14);
    assert!(!send
        .iter()
        .any(|r| r.key == rows[3].key || r.key == rows[5].key));
    let got: Vec<_> = skipped.iter().map(|s| (s.line, s.reason)).collect();
    assert_eq!(
        got,
        [
            (rows[3].line, SkipReason::OptedOut),
            (rows[5].line, SkipReason::OptedOutMarketing)
        ]
    );
    // A utility template still goes to the contact who stopped only marketing.
    let (send, skipped) = split_opted_out(&store, &h, rows.clone(), Category::Utility)
        .await
        .unwrap();
    assert_eq!(send.len(), 15);
    assert!(send.iter().any(|r| r.key == rows[5].key));
    assert_eq!(
        skipped
            .iter()
            .map(|s| (s.line, s.reason))
            .collect::<Vec<_>>(),
        [(rows[3].line, SkipReason::OptedOut)]
    );
}

fn number(d: &str) -> E164 {
    E164::from_validated_digits(d.to_string())
}

/// Migration: what tierpace before the identity rule wrote for an opt-out from the 12-digit
/// WhatsApp id 55 85 9999-0001 (the SipHash of those 12 digits; pinned in `contact.rs`).
const OLD_KEY_OF_558599990001: &str = "17cedf547fd1c7b5d3cf4ff5b6d3c619";

/// The contract for keys written by older versions: an opt-out stored under the pre-9th-digit
/// key stops the 13-digit contact (and the 12-digit one), an opt-in lifts it, others are untouched.
async fn legacy_optout_still_stops(store: &dyn ConsentStore, h: &ContactHasher) {
    // After the stored opt-out (1796060000, 2026-11-30): an older opt-in would be stale.
    let t = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let today = ContactKeys::of(h, &number("5585999990001"));
    let old_form = ContactKeys::of(h, &number("558599990001"));
    let other = ContactKeys::of(h, &number("5585999990003"));
    let landline = ContactKeys::of(h, &number("558532220001"));
    assert_eq!(today, old_form, "both spellings are one contact");
    assert_eq!(landline.legacy, None);
    assert_eq!(
        opted_out_any(store, &[today, other, landline])
            .await
            .unwrap(),
        [true, false, false]
    );
    // The old key alone, asked directly, is the one in the store: no rewrite happened.
    assert_eq!(store.opted_out(&[today.key]).await.unwrap(), [false]);
    opt_in_any(store, today, t).await.unwrap();
    assert_eq!(
        opted_out_any(store, &[today]).await.unwrap(),
        [false],
        "an opt-in lifts the old opt-out too"
    );
}

#[tokio::test]
async fn an_optout_stored_by_the_old_keying_still_stops_the_contact_in_redis() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let store = RedisConsent::new(client.get_connection_manager().await.unwrap(), "legacy");
    // Written exactly as the old code did: HSETNX PREFIX:{optout} <hex of hash(12 digits)>.
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: bool = redis::cmd("HSETNX")
        .arg("legacy:{optout}")
        .arg(OLD_KEY_OF_558599990001)
        .arg("keyword 1796060000")
        .query_async(&mut raw)
        .await
        .unwrap();
    legacy_optout_still_stops(&store, &ContactHasher::new(b"pinned-secret")).await;
}

#[tokio::test]
async fn an_optout_stored_by_the_old_keying_still_stops_the_contact_in_memory() {
    let store = MemoryConsent::new();
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let old = ContactKey::from_hex(OLD_KEY_OF_558599990001).unwrap();
    store.opt_out(old, OptOutSource::Keyword, t).await.unwrap();
    legacy_optout_still_stops(&store, &ContactHasher::new(b"pinned-secret")).await;
}

#[tokio::test]
async fn an_audience_batch_skips_a_contact_opted_out_under_the_old_key() {
    let store = MemoryConsent::new();
    let h = ContactHasher::new(b"pinned-secret");
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let old = ContactKey::from_hex(OLD_KEY_OF_558599990001).unwrap();
    store.opt_out(old, OptOutSource::Keyword, t).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.csv");
    std::fs::write(
        &file,
        "name,phone,opt_in\nT1,5585999990001,sim\nT3,(85) 9999-0003,sim\n",
    )
    .unwrap();
    let spec = AudienceSpec {
        file,
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    };
    let rows: Vec<_> = AudienceReader::open(&spec, &[], &h)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    let (send, skipped) = split_opted_out(&store, &h, rows, Category::Marketing)
        .await
        .unwrap();
    assert_eq!(send.len(), 1);
    assert_eq!(send[0].number.as_str(), "5585999990003");
    assert_eq!(
        (skipped[0].line, skipped[0].reason),
        (2, SkipReason::OptedOut)
    );
}

#[test]
fn the_optout_file_takes_either_spelling_of_a_mobile_as_one_contact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optout.txt");
    std::fs::write(&path, "(85) 9999-0001\n+55 85 99999-0001\n85 3222-0001\n").unwrap();
    let h = ContactHasher::new(b"s");
    let (keys, errors) = read_optout_file(&path, "55", &h).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let k = |d: &str| h.key(&number(d));
    assert_eq!(
        keys,
        [k("5585999990001"), k("5585999990001"), k("558532220001")]
    );
}

/// WhatsApp-id aliases (Meta's `contacts[].wa_id` differing from the number sent): an alias
/// links to its contact, unknown keys link to nothing, the latest link wins, order is kept in
/// large batches, and links are not opt-outs.
async fn alias_conformance(store: &dyn ConsentStore) {
    let (contact, alias, other) = (key(101), key(102), key(103));
    assert_eq!(
        store.aliases_for(&[alias, contact]).await.unwrap(),
        [None, None]
    );
    store.link_alias(alias, contact).await.unwrap();
    // Every accepted send links again: idempotent.
    store.link_alias(alias, contact).await.unwrap();
    assert_eq!(
        store.aliases_for(&[other, alias, contact]).await.unwrap(),
        [None, Some(contact), None]
    );
    // The number moved to another contact: the latest send's link wins.
    store.link_alias(alias, other).await.unwrap();
    assert_eq!(store.aliases_for(&[alias]).await.unwrap(), [Some(other)]);
    // A link is not an opt-out.
    assert_eq!(
        store.opted_out(&[alias, other]).await.unwrap(),
        [false, false]
    );
    assert_eq!(store.count().await.unwrap(), 0);
    // Large batches keep order (the Redis backend splits them into chunks).
    let many: Vec<ContactKey> = (3000..5500).map(key).collect();
    for k in many.iter().step_by(5) {
        store.link_alias(*k, contact).await.unwrap();
    }
    let got = store.aliases_for(&many).await.unwrap();
    let want: Vec<Option<ContactKey>> = (0..many.len())
        .map(|i| (i % 5 == 0).then_some(contact))
        .collect();
    assert_eq!(got, want);
    assert!(store.aliases_for(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn memory_store_links_whatsapp_id_aliases() {
    alias_conformance(&MemoryConsent::new()).await;
}

#[tokio::test]
async fn redis_store_links_whatsapp_id_aliases_in_one_tagged_hash() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    let store = RedisConsent::new(conn.clone(), "aliases");
    assert_eq!(store.alias_key(), "aliases:{optout}:alias");
    alias_conformance(&store).await;
    // What Redis holds: alias key hex -> contact key hex, never a phone number.
    let mut raw = conn.clone();
    let value: Option<String> = redis::cmd("HGET")
        .arg("aliases:{optout}:alias")
        .arg(key(102).to_hex())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value, Some(key(103).to_hex()));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("aliases*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, ["aliases:{optout}:alias"]);
}

#[tokio::test]
async fn cluster_store_links_whatsapp_id_aliases_in_the_opt_out_slot() {
    let cluster = support::redis_cluster::RedisCluster::shared();
    let store = RedisConsent::new(cluster.connect().await, "aliases");
    alias_conformance(&store).await;
    // The alias hash lives with the opt-outs, on the one master of the `{optout}` slot.
    let master = cluster.master_of(store.key());
    assert_eq!(cluster.master_of(store.alias_key()), master);
    for &port in cluster.ports() {
        let want: Vec<String> = if port == master {
            vec!["aliases:{optout}:alias".into()]
        } else {
            Vec::new()
        };
        assert_eq!(cluster.keys_on(port, "aliases*"), want, "node {port}");
    }
}

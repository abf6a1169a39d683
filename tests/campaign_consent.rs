//! The consent store: one suite, run against memory, a real redis-server and a real 3-master
//! Redis Cluster (guarantee 3: opted-out contacts are never sent, whichever backend keeps the
//! opt-outs).
mod support;

use chrono::{TimeZone, Utc};
use tierpace::campaign::{
    read_optout_file, split_opted_out, AudienceReader, AudienceSpec, ColumnNames, ConsentError,
    ConsentStore, MemoryConsent, OptOutSource, RedisConsent, SkipReason,
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

#[tokio::test]
async fn memory_store_meets_the_contract() {
    conformance(&MemoryConsent::new()).await;
}

#[tokio::test]
async fn redis_store_meets_the_contract_and_keeps_one_hash_tagged_key() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    let store = RedisConsent::new(conn.clone(), "conformance");
    assert_eq!(store.key(), "conformance:{optout}");
    conformance(&store).await;

    // What Redis holds: contact key hex -> "source unix_seconds", never a phone number.
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    store.opt_out(key(1), OptOutSource::Admin, t).await.unwrap();
    let mut raw = conn.clone();
    let value: Option<String> = redis::cmd("HGET")
        .arg("conformance:{optout}")
        .arg(key(1).to_hex())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("admin 1795780800"));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("conformance*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, ["conformance:{optout}"]);
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
            vec!["conformance:{optout}".into()]
        } else {
            Vec::new()
        };
        assert_eq!(cluster.keys_on(port, "conformance*"), want, "node {port}");
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
    };
    let rows: Vec<_> = AudienceReader::open(&spec, &[], &h)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(rows.len(), 15);
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    store
        .opt_out(rows[3].key, OptOutSource::Keyword, t)
        .await
        .unwrap();
    let (send, skipped) = split_opted_out(&store, rows.clone()).await.unwrap();
    assert_eq!(send.len(), 14);
    assert!(!send.iter().any(|r| r.key == rows[3].key));
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].line, skipped[0].reason),
        (rows[3].line, SkipReason::OptedOut)
    );
}

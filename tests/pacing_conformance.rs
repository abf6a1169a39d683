//! One contract, three backends: a sender's brakes, a campaign's sends per day and a template's
//! warm-up count, in memory, in a real Redis and in a real Redis Cluster (issue 12 §3). What one
//! replica writes, another reads; a restart (a new store on the same Redis) finds it.
mod support;

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use tierpace::dispatch::pacing_store::{MemoryPacing, PacingStore, RedisPacing};
use tierpace::policy::brake::Brake;

async fn redis_store(prefix: &str) -> Arc<dyn PacingStore> {
    let server = support::redis_server::RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    Arc::new(RedisPacing::new(conn, prefix))
}

async fn cluster_store(prefix: &str) -> Arc<dyn PacingStore> {
    let conn = support::redis_cluster::RedisCluster::shared()
        .connect()
        .await;
    Arc::new(RedisPacing::new(conn, prefix))
}

fn t(s: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// Runs `$body` with two handles on one store (two replicas, or before and after a restart).
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn memory() {
                let store: Arc<dyn PacingStore> = Arc::new(MemoryPacing::new());
                ($body)(store.clone(), store).await;
            }
            #[tokio::test]
            async fn redis() {
                let a = redis_store(concat!("pace-", stringify!($name))).await;
                let b = redis_store(concat!("pace-", stringify!($name))).await;
                ($body)(a, b).await;
            }
            #[tokio::test]
            async fn cluster() {
                let a = cluster_store(concat!("pace-", stringify!($name))).await;
                let b = cluster_store(concat!("pace-", stringify!($name))).await;
                ($body)(a, b).await;
            }
        }
    };
}

conformance!(
    brakes_set_by_one_replica_are_seen_by_another_and_lifted_for_all,
    |a: Arc<dyn PacingStore>, b: Arc<dyn PacingStore>| async move {
        assert!(b.brakes("sac").await.unwrap().is_empty());
        a.set_brakes(
            "sac",
            &[
                (Brake::SpamRate, t(0)),
                (
                    Brake::Account("auth http_401: Authentication Failed".into()),
                    t(5),
                ),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            b.brakes("sac").await.unwrap(),
            vec![
                (Brake::SpamRate, t(0)),
                (
                    Brake::Account("auth http_401: Authentication Failed".into()),
                    t(5)
                ),
            ]
        );
        // Other senders are untouched.
        assert!(b.brakes("other").await.unwrap().is_empty());
        // A replacement is whole: lifting one leaves exactly the rest.
        b.set_brakes("sac", &[(Brake::SpamRate, t(0))])
            .await
            .unwrap();
        assert_eq!(
            a.brakes("sac").await.unwrap(),
            vec![(Brake::SpamRate, t(0))]
        );
        a.set_brakes("sac", &[]).await.unwrap();
        assert!(b.brakes("sac").await.unwrap().is_empty());
    }
);

conformance!(
    sends_per_day_add_up_across_replicas_and_start_again_each_day,
    |a: Arc<dyn PacingStore>, b: Arc<dyn PacingStore>| async move {
        assert_eq!(a.add_sends("bf", day(27), 3).await.unwrap(), 3);
        assert_eq!(b.add_sends("bf", day(27), 4).await.unwrap(), 7);
        assert_eq!(a.sends_on("bf", day(27)).await.unwrap(), 7);
        assert_eq!(b.sends_on("bf", day(28)).await.unwrap(), 0);
        assert_eq!(b.sends_on("other", day(27)).await.unwrap(), 0);
    }
);

conformance!(
    template_warm_up_counts_across_campaigns_and_replicas,
    |a: Arc<dyn PacingStore>, b: Arc<dyn PacingStore>| async move {
        assert_eq!(a.template_sends("tpl-1").await.unwrap(), 0);
        assert_eq!(a.add_template_sends("tpl-1", 600).await.unwrap(), 600);
        assert_eq!(b.add_template_sends("tpl-1", 500).await.unwrap(), 1100);
        assert_eq!(b.template_sends("tpl-1").await.unwrap(), 1100);
        assert_eq!(a.template_sends("tpl-2").await.unwrap(), 0);
    }
);

conformance!(
    a_senders_new_uniques_per_day_add_up_across_replicas,
    |a: Arc<dyn PacingStore>, b: Arc<dyn PacingStore>| async move {
        // Issue #19: the day's grow budget is the sender's, whichever replica paced it.
        assert_eq!(a.add_sender_uniques("sac", day(27), 40).await.unwrap(), 40);
        assert_eq!(b.add_sender_uniques("sac", day(27), 2).await.unwrap(), 42);
        assert_eq!(b.sender_uniques_on("sac", day(27)).await.unwrap(), 42);
        assert_eq!(a.sender_uniques_on("sac", day(28)).await.unwrap(), 0);
        assert_eq!(a.sender_uniques_on("vendas", day(27)).await.unwrap(), 0);
        // A campaign named like the sender counts apart.
        assert_eq!(a.sends_on("sac", day(27)).await.unwrap(), 0);
    }
);

//! One contract, two backends (issue #19): a sender's lease and the replica register, in memory
//! and in a real Redis. One holder at a time, a fence that grows with each new holder, a quiet
//! second after a release, and a free lease left to the planned replica first.
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tierpace::dispatch::sender_lease::{
    MemorySenderLeases, RedisSenderLeases, SenderLease, SenderLeases,
};

fn t(ms: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(ms)
}

const TTL: Duration = Duration::from_secs(2);

async fn redis_store(prefix: &str) -> Arc<dyn SenderLeases> {
    let server = support::redis_server::RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    Arc::new(RedisSenderLeases::new(conn, prefix))
}

macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn memory() {
                let store: Arc<dyn SenderLeases> = Arc::new(MemorySenderLeases::new());
                ($body)(store).await;
            }
            #[tokio::test]
            async fn redis() {
                ($body)(redis_store(concat!("lease-", stringify!($name))).await).await;
            }
        }
    };
}

conformance!(
    one_replica_holds_a_sender_until_its_lease_runs_out,
    |s: Arc<dyn SenderLeases>| async move {
        let a = s
            .acquire("sac", "ra", "ta", t(0), TTL, Duration::ZERO)
            .await
            .unwrap();
        let SenderLease::Held { fence, until } = a else {
            panic!("{a:?}")
        };
        assert_eq!(until, t(2000));
        assert_eq!(
            s.acquire("sac", "rb", "tb", t(1000), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::HeldBy {
                replica: "ra".into(),
                until: t(2000)
            }
        );
        assert_eq!(
            s.holder("sac", t(1000)).await.unwrap().as_deref(),
            Some("ra")
        );
        // Renewal keeps the fence; another sender is free.
        assert_eq!(
            s.acquire("sac", "ra", "ta", t(1500), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::Held {
                fence,
                until: t(3500)
            }
        );
        assert!(matches!(
            s.acquire("vendas", "rb", "tb", t(1500), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::Held { .. }
        ));
        // Run out: the next holder bumps the fence.
        assert_eq!(s.holder("sac", t(3500)).await.unwrap(), None);
        let b = s
            .acquire("sac", "rb", "tb", t(3500), TTL, Duration::ZERO)
            .await
            .unwrap();
        assert!(
            matches!(b, SenderLease::Held { fence: f, .. } if f > fence),
            "{b:?}"
        );
    }
);

conformance!(a_released_sender_stays_quiet_for_a_second, |s: Arc<
    dyn SenderLeases,
>| async move {
    s.acquire("sac", "ra", "ta", t(0), TTL, Duration::ZERO)
        .await
        .unwrap();
    // Another token cannot release it.
    s.release("sac", "tb", t(1100)).await.unwrap();
    assert_eq!(
        s.holder("sac", t(100)).await.unwrap().as_deref(),
        Some("ra")
    );
    s.release("sac", "ta", t(1100)).await.unwrap();
    assert_eq!(s.holder("sac", t(200)).await.unwrap(), None);
    assert_eq!(
        s.acquire("sac", "rb", "tb", t(500), TTL, Duration::ZERO)
            .await
            .unwrap(),
        SenderLease::NotBefore { until: t(1100) }
    );
    assert!(matches!(
        s.acquire("sac", "rb", "tb", t(1100), TTL, Duration::ZERO)
            .await
            .unwrap(),
        SenderLease::Held { .. }
    ));
});

conformance!(
    a_replica_the_plan_does_not_name_waits_a_whole_ttl_for_a_free_sender,
    |s: Arc<dyn SenderLeases>| async move {
        s.acquire("sac", "ra", "ta", t(0), TTL, Duration::ZERO)
            .await
            .unwrap();
        // ra died: its lease ran out at 2 s. rb is not planned: it waits until 4 s.
        assert_eq!(
            s.acquire("sac", "rb", "tb", t(2500), TTL, TTL)
                .await
                .unwrap(),
            SenderLease::NotBefore { until: t(4000) }
        );
        // rc is planned: it takes it at once.
        assert!(matches!(
            s.acquire("sac", "rc", "tc", t(2500), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::Held { .. }
        ));
    }
);

conformance!(
    the_register_lists_live_replicas_and_forgets_silent_ones,
    |s: Arc<dyn SenderLeases>| async move {
        assert_eq!(s.beat("rb", t(0), TTL).await.unwrap(), vec!["rb"]);
        assert_eq!(s.beat("ra", t(500), TTL).await.unwrap(), vec!["ra", "rb"]);
        // rb's entry ran out at 2 s.
        assert_eq!(s.beat("ra", t(2100), TTL).await.unwrap(), vec!["ra"]);
        s.beat("rc", t(2200), TTL).await.unwrap();
        s.leave("rc").await.unwrap();
        assert_eq!(s.beat("ra", t(2300), TTL).await.unwrap(), vec!["ra"]);
    }
);

conformance!(
    the_planned_replica_takes_a_sender_from_a_silent_holder_before_its_ttl,
    |s: Arc<dyn SenderLeases>| async move {
        // TTL 2 s: a beat is 250 ms and a holder counts as live for 750 ms after a renewal.
        s.acquire("sac", "ra", "ta", t(0), TTL, Duration::ZERO)
            .await
            .unwrap();
        // ra renews at 250 ms, then dies.
        let SenderLease::Held { fence, .. } = s
            .acquire("sac", "ra", "ta", t(250), TTL, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("the holder renews");
        };
        // Still live at 900 ms: nobody takes it, even the planned replica.
        assert!(matches!(
            s.acquire_or_take("sac", "rb", "tb", t(900), TTL)
                .await
                .unwrap(),
            SenderLease::HeldBy { .. }
        ));
        // Silent since 1000 ms (250 + 750), its lease runs until 2250: a replica that only
        // asks (not the planned one) still waits.
        assert!(matches!(
            s.acquire("sac", "rc", "tc", t(1100), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::HeldBy { .. }
        ));
        // The planned replica takes it with a new fence.
        let taken = s
            .acquire_or_take("sac", "rb", "tb", t(1100), TTL)
            .await
            .unwrap();
        assert!(
            matches!(taken, SenderLease::Held { fence: f, .. } if f > fence),
            "{taken:?}"
        );
        assert_eq!(
            s.holder("sac", t(1200)).await.unwrap().as_deref(),
            Some("rb")
        );
        // The old holder, back, finds it taken.
        assert!(matches!(
            s.acquire("sac", "ra", "ta", t(1300), TTL, Duration::ZERO)
                .await
                .unwrap(),
            SenderLease::HeldBy { .. }
        ));
    }
);

conformance!(
    a_holder_that_renews_its_liveness_keeps_its_sender,
    |s: Arc<dyn SenderLeases>| async move {
        for ms in (0..3000).step_by(250) {
            assert!(matches!(
                s.acquire("sac", "ra", "ta", t(ms), TTL, Duration::ZERO)
                    .await
                    .unwrap(),
                SenderLease::Held { .. }
            ));
            assert!(matches!(
                s.acquire_or_take("sac", "rb", "tb", t(ms + 200), TTL)
                    .await
                    .unwrap(),
                SenderLease::HeldBy { .. }
            ));
        }
    }
);

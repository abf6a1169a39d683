//! One contract, three backends: campaign-run progress and leases in memory, in a real Redis and
//! in a real 3-master Redis Cluster.
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tierpace::dispatch::progress::{
    ContactState, Control, LeaseStatus, ProgressError, ProgressStore, RunId, Write,
};
use tierpace::dispatch::progress_memory::MemoryProgress;
use tierpace::dispatch::progress_redis::RedisProgress;
use tierpace::policy::profile::from_millis;

async fn redis_store(prefix: &str) -> Arc<dyn ProgressStore> {
    let server = support::redis_server::RedisServer::shared();
    let client = redis::Client::open(server.url()).unwrap();
    let conn = redis::aio::ConnectionManager::new(client).await.unwrap();
    Arc::new(RedisProgress::new(conn, prefix))
}

/// The same store over the async Cluster client: every script must touch one slot.
async fn cluster_store(prefix: &str) -> Arc<dyn ProgressStore> {
    let conn = support::redis_cluster::RedisCluster::shared()
        .connect()
        .await;
    Arc::new(RedisProgress::new(conn, prefix))
}

fn t(s: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn claim(field: &str, line: u64) -> Write {
    Write {
        field: field.into(),
        state: ContactState::InFlight { line },
    }
}

fn set(field: &str, state: ContactState) -> Write {
    Write {
        field: field.into(),
        state,
    }
}

async fn held(store: &dyn ProgressStore, run: &RunId, owner: &str, now: i64) -> u64 {
    match store
        .acquire_lease(run, owner, t(now), Duration::from_secs(15))
        .await
        .unwrap()
    {
        LeaseStatus::Held { fence, .. } => fence,
        other => panic!("{owner} expected the lease, got {other:?}"),
    }
}

macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn memory() {
                let store: Arc<dyn ProgressStore> = Arc::new(MemoryProgress::new());
                ($body)(store).await;
            }
            #[tokio::test]
            async fn redis() {
                let store = redis_store(concat!("conf-", stringify!($name))).await;
                ($body)(store).await;
            }
            #[tokio::test]
            async fn cluster() {
                let store = cluster_store(concat!("conf-", stringify!($name))).await;
                ($body)(store).await;
            }
        }
    };
}

conformance!(
    a_contact_is_claimed_once_and_the_second_row_sees_the_first,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r1");
        let fence = held(&*s, &run, "a", 0).await;
        let out = s
            .claim(
                &run,
                fence,
                &[claim("c1", 2), claim("c2", 3), claim("c1", 9)],
            )
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![None, None, Some(ContactState::InFlight { line: 2 })]
        );
        let meta = s.meta(&run).await.unwrap();
        assert_eq!(meta.count("in_flight"), 2);
    }
);

conformance!(another_instance_cannot_take_a_live_lease, |s: Arc<
    dyn ProgressStore,
>| async move {
    let run = RunId::new("bf", "r2");
    held(&*s, &run, "a", 0).await;
    match s
        .acquire_lease(&run, "b", t(5), Duration::from_secs(15))
        .await
        .unwrap()
    {
        LeaseStatus::HeldByOther { owner, .. } => assert_eq!(owner, "a"),
        other => panic!("b must not get the lease: {other:?}"),
    }
});

conformance!(
    an_expired_lease_moves_and_in_flight_becomes_unknown_never_resent,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r3");
        let fa = held(&*s, &run, "a", 0).await;
        s.claim(&run, fa, &[claim("c1", 2), claim("c2", 3)])
            .await
            .unwrap();
        s.update(
            &run,
            &[set(
                "c1",
                ContactState::Sent {
                    line: 2,
                    message_id: "m1".into(),
                },
            )],
        )
        .await
        .unwrap();
        let fb = held(&*s, &run, "b", 20).await;
        assert!(fb > fa);
        // The old holder is fenced out of claims.
        let err = s.claim(&run, fa, &[claim("c3", 4)]).await.unwrap_err();
        assert!(matches!(err, ProgressError::Fenced(_)), "{err:?}");
        // c2 was in flight at the takeover: unknown, and a new claim sees it and does not resend.
        let again = s.claim(&run, fb, &[claim("c2", 3)]).await.unwrap();
        assert_eq!(again, vec![Some(ContactState::Unknown { line: 3 })]);
        let meta = s.meta(&run).await.unwrap();
        assert_eq!(
            (
                meta.count("sent"),
                meta.count("unknown"),
                meta.count("in_flight")
            ),
            (1, 1, 0)
        );
    }
);

conformance!(
    states_only_move_forward_and_callbacks_are_idempotent,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r4");
        let f = held(&*s, &run, "a", 0).await;
        s.claim(&run, f, &[claim("c1", 2)]).await.unwrap();
        let sent = set(
            "c1",
            ContactState::Sent {
                line: 2,
                message_id: "m".into(),
            },
        );
        let read = set(
            "c1",
            ContactState::Read {
                line: 2,
                message_id: "m".into(),
            },
        );
        let delivered = set(
            "c1",
            ContactState::Delivered {
                line: 2,
                message_id: "m".into(),
            },
        );
        assert_eq!(
            s.update(&run, std::slice::from_ref(&sent)).await.unwrap(),
            1
        );
        assert_eq!(
            s.update(&run, std::slice::from_ref(&read)).await.unwrap(),
            1
        );
        // read arrived before delivered: delivered changes nothing, and read twice changes nothing
        assert_eq!(s.update(&run, &[delivered, read]).await.unwrap(), 0);
        let meta = s.meta(&run).await.unwrap();
        assert_eq!(
            (
                meta.count("sent"),
                meta.count("read"),
                meta.count("delivered")
            ),
            (0, 1, 0)
        );
    }
);

conformance!(skips_are_counted_by_reason_once, |s: Arc<
    dyn ProgressStore,
>| async move {
    let run = RunId::new("bf", "r5");
    let f = held(&*s, &run, "a", 0).await;
    let skip = set(
        "L7",
        ContactState::Skipped {
            line: 7,
            reason: "invalid_phone".into(),
        },
    );
    s.claim(&run, f, std::slice::from_ref(&skip)).await.unwrap();
    s.claim(&run, f, &[skip]).await.unwrap();
    assert_eq!(
        s.meta(&run).await.unwrap().count("skipped:invalid_phone"),
        1
    );
});

conformance!(
    retry_failed_clears_only_retryable_codes_and_asks_for_a_rewind,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r6");
        let f = held(&*s, &run, "a", 0).await;
        s.claim(&run, f, &[claim("c1", 2), claim("c2", 3)])
            .await
            .unwrap();
        s.update(
            &run,
            &[
                set(
                    "c1",
                    ContactState::Failed {
                        line: 2,
                        code: "131049".into(),
                    },
                ),
                set(
                    "c2",
                    ContactState::Failed {
                        line: 3,
                        code: "131026".into(),
                    },
                ),
            ],
        )
        .await
        .unwrap();
        assert_eq!(s.meta(&run).await.unwrap().count("failed:131049"), 1);
        assert_eq!(
            s.retry_failed(&run, &["131049".to_string()]).await.unwrap(),
            1
        );
        let meta = s.meta(&run).await.unwrap();
        assert!(meta.rewind);
        assert_eq!(
            (
                meta.count("failed"),
                meta.count("failed:131049"),
                meta.count("failed:131026")
            ),
            (1, 0, 1)
        );
        // c1 can be claimed again; c2 cannot.
        let out = s
            .claim(&run, f, &[claim("c1", 2), claim("c2", 3)])
            .await
            .unwrap();
        assert_eq!(out[0], None);
        assert!(out[1].is_some());
        s.clear_rewind(&run, f).await.unwrap();
        assert!(!s.meta(&run).await.unwrap().rewind);
    }
);

conformance!(cursor_and_controls_and_message_index_persist, |s: Arc<
    dyn ProgressStore,
>| async move {
    let run = RunId::new("bf", "r7");
    let f = held(&*s, &run, "a", 0).await;
    s.set_cursor(&run, f, "123:4").await.unwrap();
    assert_eq!(s.meta(&run).await.unwrap().cursor.as_deref(), Some("123:4"));
    assert!(matches!(
        s.set_cursor(&run, f + 1, "0").await,
        Err(ProgressError::Fenced(_))
    ));
    s.set_control(
        "bf",
        Control {
            paused: true,
            cancelled: false,
            audience_changed: true,
            pause_reason: Some("template error 132001: no such template".into()),
            operator_at: Some(from_millis(1_767_225_600_123)),
        },
    )
    .await
    .unwrap();
    let control = s.control("bf").await.unwrap();
    assert!(control.paused);
    assert!(control.audience_changed);
    // What status and the replay guard read back, to the millisecond.
    assert_eq!(
        control.pause_reason.as_deref(),
        Some("template error 132001: no such template")
    );
    assert_eq!(control.operator_at, Some(from_millis(1_767_225_600_123)));
    s.index_message("gs-1", &run, "c1").await.unwrap();
    assert_eq!(
        s.lookup_message("gs-1").await.unwrap(),
        Some((run.clone(), "c1".to_string()))
    );
    assert_eq!(s.lookup_message("nope").await.unwrap(), None);
    s.release_lease(&run, "a").await.unwrap();
    // released: another instance takes over at once, before the TTL would have run out
    held(&*s, &run, "b", 1).await;
});

conformance!(
    retrying_and_deferred_contacts_set_the_runs_retry_time_and_are_requeued_when_due,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r8");
        let f = held(&*s, &run, "a", 0).await;
        s.claim(&run, f, &[claim("c1", 2), claim("c2", 3), claim("c3", 4)])
            .await
            .unwrap();
        let applied = s
            .update(
                &run,
                &[
                    set(
                        "c1",
                        ContactState::Retrying {
                            line: 2,
                            code: "131056".into(),
                            not_before: t(16),
                            attempt: 2,
                        },
                    ),
                    set(
                        "c2",
                        ContactState::Deferred {
                            line: 3,
                            code: "131049".into(),
                            not_before: t(86_400),
                        },
                    ),
                    set(
                        "c3",
                        ContactState::Invalid {
                            line: 4,
                            code: "131026".into(),
                        },
                    ),
                ],
            )
            .await
            .unwrap();
        assert_eq!(applied, 3);
        let meta = s.meta(&run).await.unwrap();
        assert_eq!(
            (
                meta.count("retrying"),
                meta.count("deferred"),
                meta.count("invalid"),
                meta.count("in_flight")
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(meta.waiting(), 2);
        assert_eq!(meta.retry_at, Some(t(16)));
        // The states read back whole (attempt and not-before included).
        let states = s
            .states(&run, &["c1".to_string(), "c2".to_string()])
            .await
            .unwrap();
        assert_eq!(
            states[0],
            Some(ContactState::Retrying {
                line: 2,
                code: "131056".into(),
                not_before: t(16),
                attempt: 2,
            })
        );
        assert_eq!(
            states[1].as_ref().and_then(|s| s.not_before()),
            Some(t(86_400))
        );
        // A rewind clears retry_at; a not-due contact seen again sets it back (lowest wins).
        s.clear_rewind(&run, f).await.unwrap();
        assert_eq!(s.meta(&run).await.unwrap().retry_at, None);
        s.note_retry(&run, t(86_400)).await.unwrap();
        s.note_retry(&run, t(100)).await.unwrap();
        s.note_retry(&run, t(200)).await.unwrap();
        assert_eq!(s.meta(&run).await.unwrap().retry_at, Some(t(100)));
        // Requeue: the retrying contact goes back to pending and can be claimed; invalid
        // contacts never do.
        assert_eq!(
            s.requeue(&run, &["c1".to_string(), "c3".to_string()], false)
                .await
                .unwrap(),
            1
        );
        let meta = s.meta(&run).await.unwrap();
        assert_eq!((meta.count("retrying"), meta.count("invalid")), (0, 1));
        assert!(!meta.rewind);
        let out = s
            .claim(&run, f, &[claim("c1", 2), claim("c3", 4)])
            .await
            .unwrap();
        assert_eq!(out[0], None);
        assert!(out[1].is_some());
    }
);

conformance!(
    a_contact_tried_under_an_account_failure_goes_back_to_pending_with_a_rewind,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r9");
        let f = held(&*s, &run, "a", 0).await;
        s.claim(&run, f, &[claim("c1", 2), claim("c2", 3)])
            .await
            .unwrap();
        // c2 was sent, then a failed callback with 1003 came (wallet empty).
        s.update(
            &run,
            &[set(
                "c2",
                ContactState::Sent {
                    line: 3,
                    message_id: "m2".into(),
                },
            )],
        )
        .await
        .unwrap();
        let n = s
            .requeue(&run, &["c1".to_string(), "c2".to_string()], true)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let meta = s.meta(&run).await.unwrap();
        assert!(meta.rewind);
        assert_eq!(
            (meta.count("in_flight"), meta.count("sent"), meta.settled()),
            (0, 0, 0)
        );
        assert_eq!(
            s.states(&run, &["c1".to_string(), "c2".to_string()])
                .await
                .unwrap(),
            vec![None, None]
        );
    }
);

conformance!(
    a_contacts_retry_count_outlives_its_resend_and_retry_failed_clears_it,
    |s: Arc<dyn ProgressStore>| async move {
        let run = RunId::new("bf", "r10");
        let f = held(&*s, &run, "a", 0).await;
        assert_eq!(s.attempts(&run, "c1").await.unwrap(), 0, "never retried");
        // Sent, then a failed callback says 131056: retry number 1.
        s.claim(&run, f, &[claim("c1", 2)]).await.unwrap();
        let sent = |id: &str| {
            set(
                "c1",
                ContactState::Sent {
                    line: 2,
                    message_id: id.into(),
                },
            )
        };
        let retrying = |attempt: u32| {
            set(
                "c1",
                ContactState::Retrying {
                    line: 2,
                    code: "131056".into(),
                    not_before: t(4),
                    attempt,
                },
            )
        };
        s.update(&run, &[sent("m1")]).await.unwrap();
        s.update(&run, &[retrying(1)]).await.unwrap();
        assert_eq!(s.attempts(&run, "c1").await.unwrap(), 1);
        // Due: back to pending, claimed and sent again. The state is gone, the count is not.
        s.requeue(&run, &["c1".to_string()], false).await.unwrap();
        assert_eq!(
            s.states(&run, &["c1".to_string()]).await.unwrap(),
            vec![None]
        );
        s.claim(&run, f, &[claim("c1", 2)]).await.unwrap();
        s.update(&run, &[sent("m2")]).await.unwrap();
        assert_eq!(
            s.attempts(&run, "c1").await.unwrap(),
            1,
            "kept across the resend"
        );
        s.update(&run, &[retrying(2)]).await.unwrap();
        assert_eq!(s.attempts(&run, "c1").await.unwrap(), 2);
        // The ladder ends: failed with the code. `retry --failed` starts it over.
        s.requeue(&run, &["c1".to_string()], false).await.unwrap();
        s.claim(&run, f, &[claim("c1", 2)]).await.unwrap();
        s.update(
            &run,
            &[set(
                "c1",
                ContactState::Failed {
                    line: 2,
                    code: "131056".into(),
                },
            )],
        )
        .await
        .unwrap();
        assert_eq!(s.attempts(&run, "c1").await.unwrap(), 2);
        assert_eq!(s.retry_failed(&run, &["131056".into()]).await.unwrap(), 1);
        assert_eq!(
            s.attempts(&run, "c1").await.unwrap(),
            0,
            "cleared by retry --failed"
        );
        // Another run's contact of the same key has its own count.
        assert_eq!(s.attempts(&RunId::new("bf", "r11"), "c1").await.unwrap(), 0);
    }
);

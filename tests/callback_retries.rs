//! Temporary failures reported by a `failed` status callback, after the send API accepted the
//! message (DOMAIN.md §3: 131056 pair rate "retry that customer later (4^n s)", 131057
//! maintenance "retry after minutes"): each resend's failure climbs the same backoff ladder,
//! because the contact's retry count lives in the progress store (Redis here), not in the send.
//!
//! The daemon, the fake Gupshup (which posts the callbacks over HTTP) and a real `redis-server`
//! run on a manual clock that stands still between steps, so every not-before time is exact:
//! the test reads the contact's state from Redis and moves the clock to it.
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig, Fault};
use support::redis_server::{free_port, RedisServer};
use support::scenario::{self, number, ScenarioSpec};
use tierpace::clock::{Clock, ManualClock};
use tierpace::dispatch::progress::ContactState;
use tierpace::http::CampaignStatus;

/// A pair-rate ladder with a visible cap: 4 s, 16 s, 64 s, then capped at 100 s, 5 retries.
const PAIR_RATE_CAPPED: &str = r#"
[retries.pair_rate]
first = "4s"
factor = 4
attempts = 5
cap = "100s"
"#;

struct Rig {
    redis: RedisServer,
    clock: ManualClock,
    fake: FakeGupshup,
    s: scenario::Scenario,
    token: tokio_util::sync::CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn rig(contacts: usize, fault: Fault, extra_config: &str) -> Rig {
    let redis = RedisServer::start();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap());
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    fake.set_fault(fault);
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts,
        http_port: Some(port),
        ..Default::default()
    });
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(extra_config);
    std::fs::write(&s.config, config).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(clock.clone()));
    Rig {
        redis,
        clock,
        fake,
        s,
        token,
        daemon,
    }
}

impl Rig {
    /// Every contact state of the campaign's run, as stored in Redis.
    async fn states(&self) -> Vec<ContactState> {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return Vec::new();
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("tp:{run:bf:*}:states")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let mut out = Vec::new();
        for k in keys {
            let all: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            out.extend(all.iter().filter_map(|(_, v)| ContactState::decode(v)));
        }
        out
    }

    /// Waits until the failing contact (the only one not delivered) is in a state `pick`
    /// accepts, and returns it.
    async fn until_state<F>(&self, what: &str, mut pick: F) -> ContactState
    where
        F: FnMut(&ContactState) -> bool,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let states = self.states().await;
            if let Some(s) = states.iter().find(|s| pick(s)) {
                return s.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: states {states:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Moves the clock in 20 ms steps (one per 20 ms of real time, so the daemon's ticks see
    /// time pass) until `done` holds or the clock reaches `limit`; false when the limit came
    /// first. The clock stands still once `done` holds.
    async fn run_clock_until<F>(&self, limit: Option<DateTime<Utc>>, mut done: F) -> bool
    where
        F: FnMut() -> bool,
    {
        let step = chrono::Duration::milliseconds(20);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if done() {
                return true;
            }
            if limit.is_some_and(|l| self.clock.now() + step > l) {
                return false;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing happened in 30 s of real time"
            );
            self.clock.advance(step);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn campaign(&self) -> Option<CampaignStatus> {
        reqwest::get(self.s.url("/api/v1/campaigns"))
            .await
            .ok()?
            .json::<Vec<CampaignStatus>>()
            .await
            .ok()?
            .into_iter()
            .find(|c| c.id == "bf")
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.daemon).await;
    }
}

fn retrying(attempt: u32) -> impl FnMut(&ContactState) -> bool {
    move |s| matches!(s, ContactState::Retrying { attempt: a, .. } if *a == attempt)
}

/// The state's not-before time (the state must be `retrying`).
fn not_before(s: &ContactState) -> DateTime<Utc> {
    s.not_before()
        .unwrap_or_else(|| panic!("not retrying: {s:?}"))
}

/// The wait from now to `at` in whole seconds, rounded up: the clock stands still from the
/// callback on, but may have taken its last 20 ms step between the send and the callback.
fn wait_secs(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    ((at - now).num_milliseconds() + 999).div_euclid(1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_rate_in_callbacks_backs_off_4_16_64_seconds_capped_then_fails_with_its_code() {
    // Every send to contact 0 is accepted, then Gupshup posts `failed` with 131056.
    let rig = rig(
        3,
        Fault::FailDestination {
            destination: number(0),
            code: "131056".into(),
        },
        PAIR_RATE_CAPPED,
    )
    .await;
    let tries = || rig.fake.tries_to(&number(0));
    assert!(rig.run_clock_until(None, || tries() == 1).await);
    let mut waits = Vec::new();
    for attempt in 1..=5u32 {
        let s = rig
            .until_state(
                &format!("retry {attempt} after a failed callback"),
                retrying(attempt),
            )
            .await;
        assert_eq!(tries(), attempt as usize, "one send per try");
        let at = not_before(&s);
        waits.push(wait_secs(at, rig.clock.now()));
        // Nothing is resent before its time...
        rig.clock.set(at - chrono::Duration::seconds(1));
        let early = rig
            .run_clock_until(Some(at - chrono::Duration::milliseconds(20)), || {
                tries() > attempt as usize
            })
            .await;
        assert!(
            !early,
            "resent before its not-before time (retry {attempt})"
        );
        // ...and from then it is sent again by itself.
        assert!(
            rig.run_clock_until(None, || tries() > attempt as usize)
                .await
        );
    }
    assert_eq!(waits, vec![4, 16, 64, 100, 100], "4^n s, capped at 100 s");
    // The sixth failure is past the ladder: failed with the code, never retried again.
    let end = rig
        .until_state("failed with 131056 after 5 retries", |s| {
            matches!(s, ContactState::Failed { .. })
        })
        .await;
    assert!(
        matches!(&end, ContactState::Failed { code, .. } if code == "131056"),
        "{end:?}"
    );
    assert_eq!(tries(), 6);
    rig.clock.advance(chrono::Duration::hours(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let c = loop {
        if let Some(c) = rig.campaign().await.filter(|c| c.state == "completed") {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign never completed"
        );
        rig.clock.advance(chrono::Duration::milliseconds(200));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(c.totals.failed_by_code.get("131056"), Some(&1), "{c:#?}");
    assert_eq!((c.totals.delivered, c.totals.retrying), (2, 0), "{c:#?}");
    assert_eq!(
        rig.fake.tries_to(&number(0)),
        6,
        "never retried after failing"
    );
    // The other contacts went on: one send each.
    assert_eq!(rig.fake.tries_to(&number(1)), 1);
    assert_eq!(rig.fake.tries_to(&number(2)), 1);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_in_callbacks_backs_off_in_minutes_and_the_contact_is_delivered_after() {
    // 131057 in `failed` callbacks, default ladder (5 min, 10 min, 20 min ...).
    let rig = rig(
        2,
        Fault::FailDestination {
            destination: number(0),
            code: "131057".into(),
        },
        "",
    )
    .await;
    let tries = || rig.fake.tries_to(&number(0));
    assert!(rig.run_clock_until(None, || tries() == 1).await);
    let first = rig.until_state("first retry", retrying(1)).await;
    assert_eq!(wait_secs(not_before(&first), rig.clock.now()), 5 * 60);
    rig.clock.set(not_before(&first));
    assert!(rig.run_clock_until(None, || tries() == 2).await);
    let second = rig.until_state("second retry", retrying(2)).await;
    assert_eq!(
        wait_secs(not_before(&second), rig.clock.now()),
        10 * 60,
        "the backoff grew across the resend"
    );
    // Maintenance is over: the next try is delivered.
    rig.fake.clear_faults();
    rig.clock.set(not_before(&second));
    assert!(rig.run_clock_until(None, || tries() == 3).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let delivered = rig
            .states()
            .await
            .iter()
            .filter(|s| matches!(s, ContactState::Delivered { .. }))
            .count();
        if delivered == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "contact 0 never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rig.fake.tries_to(&number(0)), 3);
    rig.stop().await;
}

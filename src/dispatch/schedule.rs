//! Which state a campaign run is in now, and why, and until when (DESIGN.md §1, issue #5 §2).
//!
//! Pure: the dispatcher gathers the facts (operator controls, the schedule, the calendar, the
//! brakes, the audience) and this decides; the same function answers `tierpace status`.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The states a campaign run can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Scheduled,
    Running,
    WaitingHours,
    WaitingLimit,
    Paused,
    Braked,
    Completed,
    Expired,
    Cancelled,
    /// Another tierpace instance holds this run's lease and works on it.
    Standby,
    /// The audience file was edited while the run read it: stopped until the operator resumes
    /// (the file is then read again from the top) or starts a new run with a new file.
    AudienceChanged,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::WaitingHours => "waiting_hours",
            Self::WaitingLimit => "waiting_limit",
            Self::Paused => "paused",
            Self::Braked => "braked",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Standby => "standby",
            Self::AudienceChanged => "audience_changed",
        }
    }

    pub const ALL: [RunState; 11] = [
        Self::Scheduled,
        Self::Running,
        Self::WaitingHours,
        Self::WaitingLimit,
        Self::Paused,
        Self::Braked,
        Self::Completed,
        Self::Expired,
        Self::Cancelled,
        Self::Standby,
        Self::AudienceChanged,
    ];

    /// Whether sends may go in this state.
    pub fn may_send(self) -> bool {
        matches!(self, Self::Running | Self::WaitingLimit)
    }
}

/// A run's state with the reason and, where it is known, when it changes by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    pub state: RunState,
    pub why: String,
    pub until: Option<DateTime<Utc>>,
}

/// The facts the decision needs.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub now: Option<DateTime<Utc>>,
    pub cancelled: bool,
    pub paused: bool,
    /// Why the provider paused the campaign; `None` when an operator did.
    pub pause_reason: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Every contact has a final state (or was skipped) and nothing is left to read.
    pub done: bool,
    pub calendar_open: bool,
    pub calendar_name: String,
    pub next_open: Option<DateTime<Utc>>,
    /// The brake factor for this campaign's category is zero.
    pub braked: Option<String>,
    /// The ledger or the pacer holds new conversations back: why, and until when if known.
    pub waiting: Option<(String, Option<DateTime<Utc>>)>,
    /// Another instance holds the lease.
    pub held_by: Option<String>,
}

/// Decides the state; the order encodes precedence (an operator's cancel beats everything).
pub fn decide(f: &RunFacts) -> RunStatus {
    let now = f.now.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let status = |state, why: String, until| RunStatus { state, why, until };
    if f.cancelled {
        return status(RunState::Cancelled, "cancelled by an operator".into(), None);
    }
    if f.done {
        return status(
            RunState::Completed,
            "every contact has a final state".into(),
            None,
        );
    }
    if let Some(end) = f.end {
        if now >= end {
            return status(RunState::Expired, format!("schedule ended at {end}"), None);
        }
    }
    if f.paused {
        let why = match &f.pause_reason {
            Some(reason) => format!("paused by the provider: {reason}"),
            None => "paused by an operator".into(),
        };
        return status(RunState::Paused, why, None);
    }
    if let Some(start) = f.start {
        if now < start {
            return status(
                RunState::Scheduled,
                format!("starts at {start}"),
                Some(start),
            );
        }
    }
    if !f.calendar_open {
        let why = match f.next_open {
            Some(t) => format!(
                "outside business hours of calendar {} until {t}",
                f.calendar_name
            ),
            None => format!("calendar {} never opens again", f.calendar_name),
        };
        return status(RunState::WaitingHours, why, f.next_open);
    }
    if let Some(reason) = &f.braked {
        return status(RunState::Braked, format!("brake: {reason}"), None);
    }
    if let Some(owner) = &f.held_by {
        return status(
            RunState::Standby,
            format!("leased to instance {owner}"),
            None,
        );
    }
    if let Some((why, until)) = &f.waiting {
        if until.is_none_or(|t| t > now) {
            return status(RunState::WaitingLimit, why.clone(), *until);
        }
    }
    status(RunState::Running, "sending".into(), None)
}

/// Why a running grow-mode campaign sends slowly: `unique_7d` unique customers of the
/// `threshold` (the sender's `upgrade_threshold`) that earn the next tier, spread over the open
/// hours. `None` at the top of the ladder or once the threshold is crossed (then it is just
/// "sending").
pub fn growing_why(unique_7d: u64, threshold: Option<u64>) -> Option<String> {
    let threshold = threshold?;
    (unique_7d < threshold).then(|| {
        format!(
            "growing: {unique_7d} of {threshold} unique customers (7 days) toward the next tier, \
             spread over the open hours"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, 0, 0).unwrap()
    }

    fn open_now() -> RunFacts {
        RunFacts {
            now: Some(at(12)),
            calendar_open: true,
            calendar_name: "comercial".into(),
            ..Default::default()
        }
    }

    #[test]
    fn open_calendar_and_nothing_else_means_running() {
        assert_eq!(decide(&open_now()).state, RunState::Running);
    }

    #[test]
    fn before_start_is_scheduled_until_start() {
        let f = RunFacts {
            start: Some(at(13)),
            ..open_now()
        };
        let s = decide(&f);
        assert_eq!((s.state, s.until), (RunState::Scheduled, Some(at(13))));
    }

    #[test]
    fn closed_calendar_waits_until_it_opens() {
        let f = RunFacts {
            calendar_open: false,
            next_open: Some(at(14)),
            ..open_now()
        };
        let s = decide(&f);
        assert_eq!((s.state, s.until), (RunState::WaitingHours, Some(at(14))));
        assert!(s.why.contains("comercial"));
    }

    #[test]
    fn cancel_beats_pause_and_pause_beats_hours() {
        let f = RunFacts {
            cancelled: true,
            paused: true,
            calendar_open: false,
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::Cancelled);
        let f = RunFacts {
            paused: true,
            calendar_open: false,
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::Paused);
    }

    #[test]
    fn a_pause_says_whether_the_provider_or_an_operator_paused() {
        let by_operator = decide(&RunFacts {
            paused: true,
            ..open_now()
        });
        assert_eq!(by_operator.why, "paused by an operator");
        let by_provider = decide(&RunFacts {
            paused: true,
            pause_reason: Some("template error 132000: Number of parameters does not match".into()),
            ..open_now()
        });
        assert_eq!(by_provider.state, RunState::Paused);
        assert_eq!(
            by_provider.why,
            "paused by the provider: template error 132000: Number of parameters does not match"
        );
    }

    #[test]
    fn past_the_end_is_expired_even_when_paused() {
        let f = RunFacts {
            end: Some(at(11)),
            paused: true,
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::Expired);
    }

    #[test]
    fn limit_reached_waits_for_the_next_slot_only_while_it_is_ahead() {
        let wait = |t| Some(("limit reached".to_string(), Some(t)));
        let f = RunFacts {
            waiting: wait(at(15)),
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::WaitingLimit);
        let f = RunFacts {
            waiting: wait(at(11)),
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::Running);
        let f = RunFacts {
            waiting: Some(("budget spent".into(), None)),
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::WaitingLimit);
    }

    #[test]
    fn braked_and_standby_say_why() {
        let f = RunFacts {
            braked: Some("quality low".into()),
            ..open_now()
        };
        assert!(decide(&f).why.contains("quality low"));
        let f = RunFacts {
            held_by: Some("host-b".into()),
            ..open_now()
        };
        assert_eq!(decide(&f).state, RunState::Standby);
    }

    #[test]
    fn grow_mode_says_how_far_it_is_toward_the_next_tier() {
        assert_eq!(
            growing_why(120, Some(500)).as_deref(),
            Some("growing: 120 of 500 unique customers (7 days) toward the next tier, spread over the open hours")
        );
        assert_eq!(growing_why(500, Some(500)), None);
        assert_eq!(growing_why(120, None), None);
    }
}

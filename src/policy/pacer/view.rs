//! What the pacer sees each tick: the sender ([`SenderView`], from the ledger and the calendar)
//! and each campaign on it ([`CampaignView`]). Plain numbers, filled by the caller.
use chrono::{DateTime, Utc};

use crate::policy::growth::{self, PacingMode};
use crate::policy::share::Claim;

/// What the pacer needs to know about the sender this tick (from the ledger and the calendar).
#[derive(Debug, Clone, PartialEq)]
pub struct SenderView {
    pub now: DateTime<Utc>,
    /// The current tier limit; `None` is unlimited.
    pub limit: Option<u64>,
    /// The ledger's headroom (`allowance - unique_24h`); `None` is unlimited.
    pub headroom: Option<u64>,
    /// Unique customers reached in the rolling 24 h.
    pub unique_24h: u64,
    /// Unique customers reached in the trailing 7 days.
    pub unique_7d: u64,
    /// `limit x upgrade_share`; `None` at the top of the ladder.
    pub upgrade_threshold: Option<u64>,
    /// When a pending upgrade takes effect, if one is pending.
    pub upgrade_at: Option<DateTime<Utc>>,
    /// When the next slot leaves the 24 h window (for "limit reached until").
    pub limit_frees_at: Option<DateTime<Utc>>,
    /// Start of the local calendar day `now` is in: grants and budgets reset when it changes.
    pub day_start: DateTime<Utc>,
    /// Open seconds left today, breaks excluded (`Calendar::open_seconds_left_today`, rounded
    /// down), in the calendar the sender's campaigns run on: day budgets are spread over it. With
    /// campaigns on different calendars, use the one of the campaign that should set the pace
    /// (the highest-priority grow or steady one); a campaign closed while this calendar is open
    /// loses that time's share.
    pub open_seconds_left_today: i64,
    /// Whether that calendar is open at `now`.
    pub open_now: bool,
    /// New unique customers this sender reached since `day_start`.
    pub new_uniques_today: u64,
    /// The sender's throughput cap.
    pub max_mps: u32,
    /// This sender's share of its limit group's grow budget and crossing, in (0, 1]: its
    /// `weight` over the weights of the senders in the group (a Meta portfolio shares one
    /// limit). 1 for a sender alone in its group.
    pub group_share: f64,
    /// Sends the sender's timeline can still start before the next decision
    /// (`SendTimeline::room`, which spaces every start): replaces the pacer's own per-second
    /// count of grants. `None`: the pacer counts grants per second itself (the forecast).
    pub throughput_room: Option<u64>,
}

impl SenderView {
    /// Where the sender stands on the tier ladder (for status and logs).
    pub fn growth_phase(&self) -> growth::GrowthPhase {
        growth::phase(
            self.limit,
            self.unique_7d,
            self.upgrade_threshold,
            self.upgrade_at,
        )
    }
}

/// What the pacer needs to know about one campaign on the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignView {
    pub id: String,
    /// Lower is served first.
    pub priority: u32,
    /// Share among campaigns of the same priority.
    pub weight: u32,
    /// Lower is older; breaks ties.
    pub age_rank: u64,
    pub mode: PacingMode,
    /// Marketing templates are the ones spam and quality brakes pause.
    pub marketing: bool,
    /// At most this many new uniques a local day.
    pub daily_max: Option<u64>,
    /// New uniques this campaign reached since `day_start`.
    pub sent_today: u64,
    /// Sends of this campaign's template so far (for the warm-up).
    pub template_sends: u64,
    /// Contacts not yet sent.
    pub remaining: u64,
    /// Whether the campaign's calendar is open now (not in a break, holiday, or closed hours).
    pub open_now: bool,
}

/// A campaign's claim of `want` on a shared cap: served by priority, then weight, then age.
pub(super) fn claim(campaign: &CampaignView, want: u64) -> Claim {
    Claim {
        priority: campaign.priority,
        weight: campaign.weight,
        age_rank: campaign.age_rank,
        want,
    }
}

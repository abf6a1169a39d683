//! Local wall-clock time to UTC instants in a time zone, across its offset changes: a local time
//! that does not exist (spring forward) moves to the end of the gap, one that happens twice
//! (fall back) counts once, at its first occurrence. Transitions are found by bisecting whole
//! seconds, so no minute is ever scanned.
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

pub(super) fn plus_minutes(u: DateTime<Utc>, minutes: u16) -> Option<DateTime<Utc>> {
    u.checked_add_signed(Duration::minutes(i64::from(minutes)))
}

/// UTC offset in seconds at instant `u`.
pub(super) fn offset_at(tz: Tz, u: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&u.naive_utc())
        .fix()
        .local_minus_utc()
}

/// UTC offset in seconds at the instant `secs` seconds after the epoch.
fn offset_at_secs(tz: Tz, secs: i64) -> i32 {
    offset_at(tz, from_secs(secs))
}

fn from_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first instant whose local time is `x` or later, counting each local time once: the
/// instant itself, the first of two (fall back), or the end of the gap when `x` does not exist
/// (spring forward).
pub(super) fn first_instant_at_or_after(tz: Tz, x: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&x) {
        LocalResult::Single(d) => d.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // `x` lies in a gap, so the answer is the transition instant: the first instant
            // whose local time is past `x`. No offset exceeds 15 h, so it lies within x ± 15 h.
            let x_secs = x.and_utc().timestamp();
            let local_at = |u: i64| u + i64::from(offset_at_secs(tz, u));
            let (mut lo, mut hi) = (x_secs - 15 * 3600, x_secs + 15 * 3600);
            // Transitions fall on whole seconds, so bisecting seconds finds them exactly.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if local_at(mid) >= x_secs {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            from_secs(hi)
        }
    }
}

/// Maps the local range `[start, end)` to UTC pieces, appended to `out` in order: from the
/// first instant at `start` to the first instant at `end`, minus the second pass of any
/// fall-back inside it (a repeated local time is open once).
pub(super) fn local_range_to_utc(
    tz: Tz,
    start: NaiveDateTime,
    end: NaiveDateTime,
    f: &mut impl FnMut(DateTime<Utc>, DateTime<Utc>),
) {
    let u0 = first_instant_at_or_after(tz, start);
    let u1 = first_instant_at_or_after(tz, end);
    if u0 >= u1 {
        return;
    }
    let mut piece_start = u0;
    let mut cursor = u0;
    let mut offset = offset_at(tz, u0);
    let end_offset = offset_at(tz, u1);
    // Walk the offset changes inside [u0, u1); a range is at most 48 h long, so in practice
    // there is at most one. Two changes that cancel out inside one range are not seen.
    while offset != end_offset {
        let (transition, after) = next_transition(tz, cursor, u1, offset);
        if after < offset {
            // Fall back: local times from here on repeat for `offset - after` seconds; their
            // second pass is closed.
            let repeat = Duration::seconds(i64::from(offset - after));
            let repeat_end = transition.checked_add_signed(repeat).unwrap_or(u1);
            if transition > piece_start {
                f(piece_start, transition);
            }
            piece_start = piece_start.max(repeat_end.min(u1));
        }
        cursor = transition;
        offset = after;
    }
    if piece_start < u1 {
        f(piece_start, u1);
    }
}

/// The first instant in `(lo, hi]` whose offset differs from `offset` (the offset at `lo`),
/// and its offset. The caller knows the offset at `hi` differs.
fn next_transition(
    tz: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    offset: i32,
) -> (DateTime<Utc>, i32) {
    // Transitions fall on whole seconds, so bisecting seconds finds them exactly.
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at_secs(tz, mid) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (from_secs(hi), offset_at_secs(tz, hi))
}

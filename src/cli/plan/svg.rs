//! `tierpace plan --svg FILE`: the forecast as a chart an operator can paste into a ticket.
//!
//! One picture, two series on a shared logarithmic axis (the ladder spans 1K to 100K, a linear
//! axis would flatten the first steps): the tier limit in force as steps (a horizontal line per
//! tier held, a vertical `step` where an upgrade takes effect) and the cumulative sends. Days
//! run along the bottom in the calendar's zone. Plain SVG 1.1 written by hand: no dependency, and
//! every element the tests look for carries a `class`.
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use super::{Forecast, ForecastInput};
use crate::cli::table::thousands;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 110.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Points of the cumulative sends line, about.
const MAX_POINTS: usize = 2_000;

/// Escapes text for an SVG text node or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where the chart's axes run.
struct Scale {
    from: DateTime<Utc>,
    span_secs: f64,
    /// Decades on the y axis: 10^0 .. 10^top.
    top: u32,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let secs = (t - self.from).num_seconds() as f64;
        LEFT + (secs / self.span_secs).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    /// Counts below 1 sit on the axis (log scale).
    fn y(&self, n: u64) -> f64 {
        let v = (n.max(1) as f64).log10() / f64::from(self.top);
        HEIGHT - BOTTOM - v.clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The chart as an SVG document.
pub fn render_svg(input: &ForecastInput, f: &Forecast) -> String {
    let end = f
        .finished_at
        .map_or(f.until, |t| t.max(f.tiers.last().map_or(t, |(_, at)| *at)));
    let end = end.max(input.start + Duration::hours(1));
    let largest = f
        .tiers
        .iter()
        .filter_map(|(t, _)| t.limit())
        .chain([input.audience, 10])
        .max()
        .unwrap_or(10);
    // One decade above the largest value, for the "unlimited" line.
    let top = (largest as f64).log10().ceil() as u32 + 1;
    let scale = Scale {
        from: input.start,
        span_secs: (end - input.start).num_seconds().max(1) as f64,
        top,
    };
    let tz = f.timezone;
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let title = format!(
        "tierpace forecast: {} contacts from tier {}, {} calendar",
        thousands(input.audience),
        input.tier,
        input.calendar.name()
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        escape(&title)
    );

    // Axes, decades and day boundaries.
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = writeln!(out, r#"<g class="axes" stroke="black">"#);
    let _ = writeln!(out, r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>"#);
    let _ = writeln!(out, r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>"#);
    let _ = writeln!(out, "</g>");
    let _ = writeln!(out, r##"<g class="grid" stroke="#ddd">"##);
    for decade in 0..=top {
        let y = scale.y(10u64.pow(decade));
        let _ = writeln!(
            out,
            r#"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}"/>"#
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" stroke="none">{}</text>"#,
            x0 - 6.0,
            y + 4.0,
            thousands(10u64.pow(decade))
        );
    }
    let every = (f.days.len() / 15).max(1);
    for (i, day) in f.days.iter().enumerate() {
        let start = day
            .date
            .and_hms_opt(0, 0, 0)
            .and_then(|n| n.and_local_timezone(tz).earliest())
            .map_or(input.start, |t| t.with_timezone(&Utc))
            .max(input.start);
        let x = scale.x(start);
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}"/>"#
        );
        if i % every == 0 {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" stroke="none">{}</text>"#,
                x + 2.0,
                y0 + 16.0,
                day.date.format("%m-%d")
            );
        }
    }
    let _ = writeln!(out, "</g>");

    // The limit: a level per tier held, a step where each upgrade takes effect.
    let level = |limit: Option<u64>| limit.map_or(scale.y(10u64.pow(top)), |l| scale.y(l));
    let _ = writeln!(
        out,
        r##"<g class="limit" stroke="#c0392b" stroke-width="2" fill="#c0392b">"##
    );
    for (i, (tier, from)) in f.tiers.iter().enumerate() {
        let to = f.tiers.get(i + 1).map_or(end, |(_, at)| *at);
        let y = level(tier.limit());
        let _ = writeln!(
            out,
            r#"<line class="tier" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            scale.x(*from),
            scale.x(to)
        );
        if let Some((next, at)) = f.tiers.get(i + 1) {
            let x = scale.x(*at);
            let _ = writeln!(
                out,
                r#"<line class="step" x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
                level(next.limit())
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" stroke="none">{}</text>"#,
            scale.x(*from) + 3.0,
            y - 4.0,
            escape(&tier.to_string())
        );
    }
    let _ = writeln!(out, "</g>");

    // Cumulative sends.
    // At most about MAX_POINTS points (a year of one-minute ticks would be megabytes), the
    // last one always, so the line ends where the sends end.
    let every = (f.cumulative.len() / MAX_POINTS).max(1);
    let last = f.cumulative.len().saturating_sub(1);
    let mut points = String::new();
    for (t, n) in f
        .cumulative
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i == last)
        .map(|(_, p)| p)
    {
        let _ = write!(points, "{:.1},{:.1} ", scale.x(*t), scale.y(*n));
    }
    let _ = writeln!(
        out,
        r##"<polyline class="sends" fill="none" stroke="#2471a3" stroke-width="2" points="{}"/>"##,
        points.trim_end()
    );

    // Legend.
    let lx = WIDTH - RIGHT + 10.0;
    let _ = writeln!(
        out,
        r##"<text x="{lx}" y="{}" fill="#c0392b">tier limit / 24 h</text>"##,
        TOP + 10.0
    );
    let _ = writeln!(
        out,
        r##"<text x="{lx}" y="{}" fill="#2471a3">sends so far</text>"##,
        TOP + 26.0
    );
    let status = match f.finished_at {
        Some(_) => format!("all {} sent", thousands(f.sent)),
        None => format!("{} sent, not finished", thousands(f.sent)),
    };
    let _ = writeln!(
        out,
        r#"<text x="{lx}" y="{}">{}</text>"#,
        TOP + 42.0,
        escape(&status)
    );
    let _ = writeln!(
        out,
        r#"<text x="{x0}" y="{}">log scale; days in {}</text>"#,
        HEIGHT - 10.0,
        escape(tz.name())
    );
    out.push_str("</svg>\n");
    out
}

//! tierpace: paces WhatsApp Business template campaigns to the sender's messaging tier,
//! grows that tier safely, and never sends outside business hours.
//!
//! The layout follows the architecture in DESIGN.md §5: `policy/` is pure (tiers, calendars,
//! pacing; time always passed in), `ledger/` keeps who was reached and when (Redis or memory),
//! `campaign/` reads campaign files and audiences, `dispatch/` turns campaigns into sends,
//! `provider/` speaks to Gupshup, Meta or a dry run, `http/` serves webhooks, metrics and the
//! admin API. Dependencies point inward: nothing in `policy/` knows about IO.
#![forbid(unsafe_code)]

pub mod campaign;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contact;
pub mod daemon;
pub mod dispatch;
pub mod http;
pub mod ledger;
pub mod logging;
pub mod policy;
pub mod provider;
pub mod secret;
pub mod systemd;

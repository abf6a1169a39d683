//! Campaigns as operators write them: one TOML file per campaign in `campaigns_dir`, an audience
//! CSV streamed row by row, global opt-outs, and the registry that keeps the valid campaigns in
//! force while files come, change and go (DESIGN.md §1, §2 guarantees 3, 4, 6, 7, §4; DOMAIN.md §6).
//!
//! The pieces, from the outside in:
//! - [`file`]: the campaign file's validated types ([`file::Campaign`]); [`validate`] turns the
//!   TOML (serde structs with spans) into them, every error naming file, line, column and key
//!   (the key from `serde_path_to_error`, places from toml's spans); [`load`] reads a file from
//!   disk (size cap) and runs the validation. [`template_file`] and [`template_spec`] read and
//!   hold the template's header, body and buttons.
//! - [`audience`]: the CSV reader (a folder: the reader, the per-row checks, the summary of a
//!   whole pass, the duplicate filter); each row becomes an [`audience::AudienceRow`] or a
//!   counted [`audience::RowSkip`], never a fatal error. It uses [`phone`] (the E.164 normaliser
//!   every entry point shares, webhooks and the admin API included), [`opt_in`] (consent column)
//!   and [`params`] (`{{column}}` template parameters), reads records through [`csv_records`]
//!   (the file's own line numbers) and decodes them in the encoding [`text_encoding`] picks
//!   (UTF-8 or Windows-1252); [`audience_stamp`] tells a file edited under a running campaign.
//! - [`consent`]: the global opt-out store (memory or Redis), keyed by contact hash, with the
//!   [`consent_scope`] of each opt-out (everything, or marketing only).
//! - [`registry`]: rescans the directory on one reload message (file watcher or SIGHUP);
//!   a bad file keeps its previous valid version in force.
//! - [`check`]: the offline report behind `tierpace check`.
//! - [`metrics`]: the log line and counter for each registry event and skipped contact.

pub mod audience;
pub mod audience_stamp;
pub mod check;
pub mod consent;
pub mod consent_scope;
pub mod csv_records;
pub mod file;
pub mod load;
pub mod metrics;
pub mod opt_in;
pub mod params;
pub mod phone;
pub mod registry;
pub mod template_file;
pub mod template_spec;
pub mod text_encoding;
pub mod validate;

pub use audience::{
    scan_audience, AudienceError, AudiencePosition, AudienceReader, AudienceRow, AudienceSummary,
    RowSkip, SkipReason,
};
pub use check::{check_campaigns, CheckOutcome, CheckReport};
pub use consent::{
    blocked_any, opt_in_any, opted_out_any, read_optout_file, scopes_any, split_opted_out,
    ConsentError, ConsentStore, ContactKeys, MemoryConsent, OptOutRecord, OptOutSource,
    RedisConsent,
};
pub use consent_scope::{ConsentScope, OptOutCounts};
pub use file::{
    AudienceSpec, CalendarRef, Campaign, CampaignContext, CampaignFileError, Category, ColumnNames,
    FileProblem, PacingMode, PacingSpec, ScheduleSpec, TemplateRef, TemplateSpec,
};
pub use load::load_campaign;
pub use metrics::CampaignMetrics;
pub use params::ParamTemplate;
pub use registry::{spawn_sighup, watch_dir, Registry, RegistryEvent, ReloadTrigger, WatchGuard};
pub use text_encoding::{EncodingSetting, TextEncoding};

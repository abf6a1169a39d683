//! The campaign file as serde reads it: structs that mirror the TOML, each value that can be
//! wrong wrapped in [`Spanned`] so its problem names its line and column. Nothing is checked
//! here beyond types and unknown keys (`deny_unknown_fields`); [`super`] validates.
use serde::Deserialize;
use toml::Spanned;

use crate::campaign::file::{Category, ColumnNames, PacingMode, ParamCleanup};
use crate::policy::calendar_config::CalendarConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCampaign {
    pub(super) id: Option<Spanned<String>>,
    pub(super) sender: Spanned<String>,
    pub(super) priority: Option<u32>,
    pub(super) weight: Option<Spanned<u32>>,
    pub(super) template: RawTemplate,
    pub(super) audience: RawAudience,
    pub(super) schedule: RawSchedule,
    #[serde(default)]
    pub(super) pacing: RawPacing,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplate {
    pub(super) id: Option<Spanned<String>>,
    pub(super) name: Option<Spanned<String>>,
    pub(super) language: Option<Spanned<String>>,
    pub(super) category: Category,
    pub(super) body: Option<Spanned<toml::Value>>,
    /// The older name of `body`.
    pub(super) params: Option<Spanned<toml::Value>>,
    /// `media` is the older name of `header`.
    #[serde(alias = "media")]
    pub(super) header: Option<Spanned<toml::Value>>,
    pub(super) buttons: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudience {
    pub(super) file: Spanned<String>,
    pub(super) default_ddi: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) columns: ColumnNames,
    pub(super) max_bad_share: Option<Spanned<f64>>,
    pub(super) encoding: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) param_cleanup: ParamCleanup,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) start: Option<Spanned<toml::Value>>,
    pub(super) end: Option<Spanned<toml::Value>>,
    pub(super) cron: Option<Spanned<String>>,
    pub(super) late_start: Option<Spanned<String>>,
    pub(super) calendar: Option<Spanned<String>>,
    pub(super) hours: Option<CalendarConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPacing {
    pub(super) mode: Option<PacingMode>,
    pub(super) daily_max: Option<Spanned<u64>>,
    pub(super) daily_budget: Option<Spanned<u64>>,
}

impl RawAudience {
    pub(super) fn audience_file(&self) -> &str {
        self.file.get_ref().trim()
    }
}

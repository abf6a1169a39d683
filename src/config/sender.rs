//! One sender (`[senders.ID]`): a WhatsApp business number at a provider, its limit group,
//! the tier it starts from and its throughput cap.
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::{Secret, SecretError, SecretSource};

/// Which provider sends for this sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    Gupshup,
    Meta,
    Dryrun,
}

/// The provider this choice names (the config's spelling of [`ProviderKind`]).
///
/// [`ProviderKind`]: crate::provider::ProviderKind
impl From<ProviderChoice> for crate::provider::ProviderKind {
    fn from(choice: ProviderChoice) -> Self {
        match choice {
            ProviderChoice::Gupshup => Self::Gupshup,
            ProviderChoice::Meta => Self::Meta,
            ProviderChoice::Dryrun => Self::DryRun,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub provider: ProviderChoice,
    /// Gupshup: the business number, digits only.
    #[serde(default)]
    pub source: Option<String>,
    /// Gupshup: the app name (`src.name`).
    #[serde(default)]
    pub app_name: Option<String>,
    /// Meta: the phone number id.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// Meta: the WhatsApp Business Account id, for the template pre-flight (`check` fetches
    /// `/{waba_id}/message_templates`); without it the template is not verified.
    #[serde(default)]
    pub waba_id: Option<String>,
    /// The API key (Gupshup) or access token (Meta), by reference only.
    #[serde(default, alias = "access_token_env")]
    pub api_key_env: Option<String>,
    #[serde(default, alias = "access_token_file")]
    pub api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub base_url: Option<String>,
    /// Who shares this sender's messaging limit; default: the sender's own id.
    #[serde(default)]
    pub limit_group: Option<String>,
    /// This sender's weight in its limit group: senders sharing a limit split the group's grow
    /// budget and crossing in proportion to it. Default 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// The tier until the provider or an operator says otherwise.
    #[serde(default = "default_initial_tier")]
    pub initial_tier: String,
    /// Messages per second cap.
    #[serde(default = "default_max_mps")]
    pub max_mps: u32,
    /// Sends in flight at once to the provider.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Business-hours calendar used when a campaign names none.
    #[serde(default)]
    pub calendar: Option<String>,
    /// How often the provider is asked for the current limit and quality (also at start and on
    /// `tierpace status --refresh`).
    #[serde(default = "default_tier_poll", with = "humantime_serde")]
    pub tier_poll: Duration,
    /// Gupshup Partner API (tier and quality on demand): the app id and the app access token,
    /// by reference only. Without them tierpace relies on Gupshup's tier callbacks.
    #[serde(default)]
    pub partner_app_id_env: Option<String>,
    #[serde(default)]
    pub partner_app_id_file: Option<PathBuf>,
    #[serde(default)]
    pub partner_token_env: Option<String>,
    #[serde(default)]
    pub partner_token_file: Option<PathBuf>,
    /// `https://partner.gupshup.io` unless set (tests point it at a fake).
    #[serde(default)]
    pub partner_base_url: Option<String>,
}

fn default_tier_poll() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_initial_tier() -> String {
    "1k".into()
}
fn default_weight() -> u32 {
    1
}

fn default_max_mps() -> u32 {
    20
}
fn default_concurrency() -> usize {
    1024
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Meta's Graph API when a sender gives no `base_url`.
pub const META_GRAPH_URL: &str = "https://graph.facebook.com/v21.0";

/// Gupshup's Partner API when a sender gives no `partner_base_url`.
pub const GUPSHUP_PARTNER_URL: &str = "https://partner.gupshup.io";

/// Where the sender's provider APIs are, defaults filled in, without a trailing slash.
impl SenderConfig {
    /// The Graph API a Meta sender reads and sends through.
    pub fn graph_api_base(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(META_GRAPH_URL)
            .trim_end_matches('/')
    }

    /// Gupshup's Partner API (tier, templates, the go-live reads).
    pub fn partner_api_base(&self) -> &str {
        self.partner_base_url
            .as_deref()
            .unwrap_or(GUPSHUP_PARTNER_URL)
            .trim_end_matches('/')
    }
}

/// The sender's secrets, each loaded from its `*_env` / `*_file` pair (exactly one set); the
/// error names the keys, never the value.
impl SenderConfig {
    /// The send API's key (Gupshup) or access token (Meta).
    pub fn api_key(&self) -> Result<Secret, SecretError> {
        load_pair(
            &self.api_key_env,
            &self.api_key_file,
            "api_key_env",
            "api_key_file",
        )
    }

    /// Gupshup's Partner API app id.
    pub fn partner_app_id(&self) -> Result<Secret, SecretError> {
        load_pair(
            &self.partner_app_id_env,
            &self.partner_app_id_file,
            "partner_app_id_env",
            "partner_app_id_file",
        )
    }

    /// Gupshup's Partner API app token.
    pub fn partner_token(&self) -> Result<Secret, SecretError> {
        load_pair(
            &self.partner_token_env,
            &self.partner_token_file,
            "partner_token_env",
            "partner_token_file",
        )
    }

    /// Both Partner API secrets: the app id (trimmed) and the app token.
    pub fn partner_secrets(&self) -> Result<(String, Secret), SecretError> {
        let app_id = self.partner_app_id()?.expose().trim().to_string();
        Ok((app_id, self.partner_token()?))
    }
}

fn load_pair(
    env: &Option<String>,
    file: &Option<PathBuf>,
    env_key: &'static str,
    file_key: &'static str,
) -> Result<Secret, SecretError> {
    SecretSource::from_keys(env.clone(), file.clone(), env_key, file_key).and_then(|s| s.load())
}

impl SenderConfig {
    /// Whether tierpace can ask the provider for the tier: always for Meta (the access token
    /// reads the Graph API), for Gupshup only with the Partner API app id and token.
    pub fn tier_poll_configured(&self) -> bool {
        match self.provider {
            ProviderChoice::Meta => true,
            ProviderChoice::Gupshup => {
                (self.partner_app_id_env.is_some() || self.partner_app_id_file.is_some())
                    && (self.partner_token_env.is_some() || self.partner_token_file.is_some())
            }
            ProviderChoice::Dryrun => false,
        }
    }

    /// This sender's share of its limit group's grow budget: its weight over the weights of
    /// every sender in `all` with the same group, in (0, 1].
    pub fn group_share<'a>(
        &self,
        id: &str,
        all: impl IntoIterator<Item = (&'a String, &'a SenderConfig)>,
    ) -> f64 {
        let group = self.limit_group(id);
        let total: u64 = all
            .into_iter()
            .filter(|(other, c)| c.limit_group(other) == group)
            .map(|(_, c)| u64::from(c.weight.max(1)))
            .sum();
        f64::from(self.weight.max(1)) / total.max(1) as f64
    }

    pub fn limit_group(&self, id: &str) -> String {
        self.limit_group.clone().unwrap_or_else(|| id.to_string())
    }

    pub fn validate(&self, id: &str) -> Vec<String> {
        let mut p = Vec::new();
        let key = |k: &str| format!("senders.{id}.{k}");
        if self
            .initial_tier
            .parse::<crate::policy::tier::Tier>()
            .is_err()
        {
            p.push(format!(
                "{}: unknown tier {:?} (expected 250, 1k, 2k, 10k, 100k, unlimited or a TIER_* name)",
                key("initial_tier"),
                self.initial_tier
            ));
        }
        if self.tier_poll < Duration::from_secs(1) {
            p.push(format!("{}: at least 1s", key("tier_poll")));
        }
        if self.max_mps == 0 {
            p.push(format!("{}: must be at least 1", key("max_mps")));
        }
        if self.concurrency == 0 {
            p.push(format!("{}: must be at least 1", key("concurrency")));
        }
        if self.weight == 0 {
            p.push(format!("{}: must be at least 1", key("weight")));
        }
        if self.api_key_env.is_some() && self.api_key_file.is_some() {
            p.push(format!(
                "{}: give api_key_env or api_key_file, not both",
                key("api_key_env")
            ));
        }
        match self.provider {
            ProviderChoice::Gupshup => {
                if self
                    .source
                    .as_deref()
                    .is_none_or(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()))
                {
                    p.push(format!(
                        "{}: the business number, digits only, is required for gupshup",
                        key("source")
                    ));
                }
                if self.app_name.as_deref().is_none_or(str::is_empty) {
                    p.push(format!("{}: required for gupshup", key("app_name")));
                }
                if self.api_key_env.is_none() && self.api_key_file.is_none() {
                    p.push(format!(
                        "{}: api_key_env or api_key_file is required for gupshup (never inline)",
                        key("api_key_env")
                    ));
                }
            }
            ProviderChoice::Meta => {
                if self.phone_number_id.as_deref().is_none_or(str::is_empty) {
                    p.push(format!("{}: required for meta", key("phone_number_id")));
                }
                if self.api_key_env.is_none() && self.api_key_file.is_none() {
                    p.push(format!(
                        "{}: api_key_env or api_key_file (the access token) is required for meta",
                        key("api_key_env")
                    ));
                }
            }
            ProviderChoice::Dryrun => {}
        }
        p
    }
}

#[cfg(test)]
mod group_share_tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sender(group: Option<&str>, weight: u32) -> SenderConfig {
        let mut text = String::from("provider = \"meta\"\nphone_number_id = \"1\"\n");
        if let Some(g) = group {
            text.push_str(&format!("limit_group = \"{g}\"\n"));
        }
        text.push_str(&format!("weight = {weight}\n"));
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn senders_of_one_limit_group_split_it_by_weight() {
        let all: BTreeMap<String, SenderConfig> = [
            ("a".to_string(), sender(Some("acme"), 3)),
            ("b".to_string(), sender(Some("acme"), 1)),
            ("c".to_string(), sender(None, 5)),
        ]
        .into_iter()
        .collect();
        assert_eq!(all["a"].group_share("a", &all), 0.75);
        assert_eq!(all["b"].group_share("b", &all), 0.25);
        assert_eq!(all["c"].group_share("c", &all), 1.0);
        assert!(sender(None, 0)
            .validate("z")
            .iter()
            .any(|p| p.contains("senders.z.weight")));
    }
}
